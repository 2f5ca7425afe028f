// Copyright shoal authors. NodeOptions::validate (node.h): every option
// checked before a node binds anything, each error naming the option.

#include <asio/ip/address.hpp>

#include "shoal/membership/member_address.h"
#include "shoal/node/address.h"
#include "shoal/node/node.h"

namespace shoal::node {

std::string NodeOptions::validate() const {
  std::string err;
  if (!parse_host_port(listen, &err, /*allow_port_zero=*/true)) return "listen: " + err;
  if (!advertise.empty() && !parse_host_port(advertise, &err)) return "advertise: " + err;
  // This member's identity on the wire: a canonical IP literal and port
  // (membership/member_address.h), as every peer's codec requires.
  if (!advertise.empty()) {
    if (auto why = membership::check_member_address(advertise); !why.empty()) {
      return "advertise: '" + advertise + "' " + why;
    }
  } else {
    HostPort id = *parse_host_port(listen, nullptr, /*allow_port_zero=*/true);
    if (id.port == 0) id.port = 1;  // the real port is known once bound
    if (auto why = membership::check_member_address(id.to_string()); !why.empty()) {
      return "listen: '" + listen + "' is not usable as this member's address (" + why +
             "): give --advertise IP:PORT";
    }
  }
  if (!name.empty()) {
    if (auto why = membership::check_member_name(name); !why.empty()) {
      return "name: '" + name + "': " + why;
    }
    // An address as a name must be this node's own (it is its address).
    if (membership::check_member_address(name).empty() && name != advertise &&
        (!advertise.empty() || name != listen)) {
      return "name: '" + name + "' is an address but not this node's";
    }
  }
  for (const std::string& s : seeds) {
    if (!parse_host_port(s, &err)) return "seeds: " + err;
  }
  if (cluster.empty() || cluster.size() > 255) return "cluster: must be 1..255 bytes";
  if (replica_points < 1 || replica_points > ring::kMaxPointsPerMember) {
    return "replica_points: must be 1.." + std::to_string(ring::kMaxPointsPerMember);
  }
  if (frame_bytes_max < 1024) return "frame_bytes_max: must be >= 1024";
  if (!metrics_listen.empty()) {
    auto hp = parse_host_port(metrics_listen, &err, /*allow_port_zero=*/true);
    if (!hp) return "metrics: " + err;
    asio::error_code ec;
    auto ip = asio::ip::make_address(hp->host, ec);
    if (!metrics_public && hp->host != "localhost" && (ec || !ip.is_loopback())) {
      return "metrics: '" + metrics_listen +
             "' is not a loopback address (metrics_public, shoald --metrics-public, allows it)";
    }
  }
  if (tcp_idle_timeout.count() <= 0 || tcp_read_timeout.count() <= 0) {
    return "tcp timeouts: must be > 0";
  }
  if (leave_timeout.count() < 0) return "leave_timeout: must be >= 0";
  if (drain_timeout.count() < 0) return "drain_timeout: must be >= 0";
  if (tcp_connections_max < 1) return "tcp_connections_max: must be >= 1";
  if (full_syncs_max < 1) return "full_syncs_max: must be >= 1";
  if (handler_threads > 1024) return "handler_threads: must be <= 1024";
  if (handler_queue_max < 1) return "handler_queue_max: must be >= 1";
  if (encryption != Encryption::kOff && keyring.empty()) {
    return "encryption '" + std::string(to_string(encryption)) + "' needs a keyring";
  }
  if (encryption == Encryption::kOff && !keyring.empty()) {
    return "encryption 'off' with a keyring: say accept-plaintext or required";
  }
  if (encryption != Encryption::kOff && protocol.datagram_budget < 512 + kSealOverhead) {
    return "datagram_budget: must be >= " + std::to_string(512 + kSealOverhead) +
           " with encryption (the seal takes " + std::to_string(kSealOverhead) + " bytes)";
  }
  membership::Config c = protocol;
  c.address = advertise.empty() ? listen : advertise;  // only checked for non-empty
  c.cluster = cluster;
  c.labels = labels;
  if (auto e = c.validate(); !e.empty()) return e;
  return "";
}

}  // namespace shoal::node
