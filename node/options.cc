// Copyright shoal authors. NodeOptions::validate (options.h): every option
// checked before a node binds anything, each error naming the option.

#include "shoal/node/options.h"

#include <asio/ip/address.hpp>

#include "shoal/membership/member_address.h"
#include "shoal/node/events.h"
#include "shoal/node/host_port.h"
#include "shoal/node/seal.h"

namespace shoal::node {

namespace {

// The addresses and the name: each parses, and this member's identity is
// usable on the wire.
std::string address_problem(const NodeOptions& o) {
  std::string err;
  if (!parse_host_port(o.listen, &err, /*allow_port_zero=*/true)) return "listen: " + err;
  if (!o.advertise.empty() && !parse_host_port(o.advertise, &err)) return "advertise: " + err;
  // This member's identity on the wire: a canonical IP literal and port
  // (membership/member_address.h), as every peer's codec requires.
  if (!o.advertise.empty()) {
    if (auto why = membership::check_member_address(o.advertise); !why.empty()) {
      return "advertise: '" + o.advertise + "' " + why;
    }
  } else {
    HostPort id = *parse_host_port(o.listen, nullptr, /*allow_port_zero=*/true);
    if (id.port == 0) id.port = 1;  // the real port is known once bound
    if (auto why = membership::check_member_address(id.to_string()); !why.empty()) {
      return "listen: '" + o.listen + "' is not usable as this member's address (" + why +
             "): give --advertise IP:PORT";
    }
  }
  if (!o.name.empty()) {
    if (auto why = membership::check_member_name(o.name); !why.empty()) {
      return "name: '" + o.name + "': " + why;
    }
    // An address as a name must be this node's own (it is its address).
    if (membership::check_member_address(o.name).empty() && o.name != o.advertise &&
        (!o.advertise.empty() || o.name != o.listen)) {
      return "name: '" + o.name + "' is an address but not this node's";
    }
  }
  for (const std::string& s : o.seeds) {
    if (!parse_host_port(s, &err)) return "seeds: " + err;
  }
  return "";
}

// Everything else: bounds, encryption, the protocol's parameters.
std::string other_problem(const NodeOptions& o) {
  std::string err;
  if (o.cluster.empty() || o.cluster.size() > 255) return "cluster: must be 1..255 bytes";
  if (o.replica_points < 1 || o.replica_points > ring::kMaxPointsPerMember) {
    return "replica_points: must be 1.." + std::to_string(ring::kMaxPointsPerMember);
  }
  if (o.frame_bytes_max < 1024) return "frame_bytes_max: must be >= 1024";
  if (std::string why = check_weight_label(o.labels); !why.empty()) return "labels: " + why;
  if (!o.metrics_listen.empty()) {
    auto hp = parse_host_port(o.metrics_listen, &err, /*allow_port_zero=*/true);
    if (!hp) return "metrics: " + err;
    asio::error_code ec;
    auto ip = asio::ip::make_address(hp->host, ec);
    if (!o.metrics_public && hp->host != "localhost" && (ec || !ip.is_loopback())) {
      return "metrics: '" + o.metrics_listen +
             "' is not a loopback address (metrics_public, shoald --metrics-public, allows it)";
    }
  }
  if (o.tcp_idle_timeout.count() <= 0 || o.tcp_read_timeout.count() <= 0) {
    return "tcp timeouts: must be > 0";
  }
  if (o.leave_timeout.count() < 0) return "leave_timeout: must be >= 0";
  if (o.drain_timeout.count() < 0) return "drain_timeout: must be >= 0";
  if (o.tcp_connections_max < 1) return "tcp_connections_max: must be >= 1";
  if (o.full_syncs_max < 1) return "full_syncs_max: must be >= 1";
  if (o.handler_threads > 1024) return "handler_threads: must be <= 1024";
  if (o.handler_queue_max < 1) return "handler_queue_max: must be >= 1";
  if (o.io_relief_after.count() < 0 || o.io_relief_after > std::chrono::seconds(1)) {
    return "io_relief_after: must be 0 (off) to 1 s";
  }
  if (o.encryption != Encryption::kOff && o.keyring.empty()) {
    return "encryption '" + std::string(to_string(o.encryption)) + "' needs a keyring";
  }
  if (o.encryption == Encryption::kOff && !o.keyring.empty()) {
    return "encryption 'off' with a keyring: say accept-plaintext or required";
  }
  if (o.encryption != Encryption::kOff && o.protocol.datagram_budget < 512 + kSealOverhead) {
    return "datagram_budget: must be >= " + std::to_string(512 + kSealOverhead) +
           " with encryption (the seal takes " + std::to_string(kSealOverhead) + " bytes)";
  }
  membership::Config c;
  static_cast<membership::Tuning&>(c) = o.protocol;
  c.address = o.advertise.empty() ? o.listen : o.advertise;  // only checked for non-empty
  c.cluster = o.cluster;
  c.labels = o.labels;
  return c.validate();
}

}  // namespace

Error NodeOptions::validate() const {
  std::string why = address_problem(*this);
  if (why.empty()) why = other_problem(*this);
  if (why.empty()) return {};
  return {ErrorCode::kInvalidOptions, std::move(why)};
}

}  // namespace shoal::node
