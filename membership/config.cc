// Copyright shoal authors. Config::validate() and Tuning::validate() (contracts in config.h): the
// bounds of every option, a name the codec lets through, and room in a
// datagram for this node's own claim.

#include "shoal/membership/config.h"

#include <chrono>
#include <string>

#include "shoal/membership/member_address.h"
#include "shoal/membership/membership.h"
#include "shoal/membership/messages.h"
#include "shoal/membership/types.h"

namespace shoal::membership {

namespace {

std::string ms(Duration d) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) + "ms";
}

}  // namespace

std::string Config::validate() const {
  if (address.empty()) return "address: must not be empty";
  // The address's form is the driver's business (the core never parses
  // it); a name given apart from it must be one the codec lets through.
  if (std::string why = name.empty() ? "" : check_member_name(name); !why.empty()) {
    return "name: " + why + " (\"" + name + "\")";
  }
  if (!name.empty() && name != address && check_member_address(name).empty()) {
    return "name: \"" + name + "\" is an address but not this node's (" + address + ")";
  }
  if (cluster.empty() || cluster.size() > 255) return "cluster: must be 1..255 bytes";
  if (std::string why = Tuning::validate(); !why.empty()) return why;
  if (incarnation > kIncarnationStartMax) return "incarnation: must be at most 2^60";
  if (std::string problem = check_labels(labels); !problem.empty()) return problem;
  const Change self{identity(), Status::kAlive, UINT64_MAX, labels,
                    identity(), UINT64_MAX,     address};
  if (encoded_change_size(self) > Membership::change_bytes_max(*this)) {
    return "labels: this member's claim (" + std::to_string(encoded_change_size(self)) +
           " bytes) does not fit datagram_budget with room for a ping";
  }
  return "";
}

std::string Tuning::validate() const {
  if (protocol_period < milliseconds(50)) {
    return "protocol_period: " + ms(protocol_period) + " is below the 50ms minimum";
  }
  if (ping_timeout <= Duration::zero() || ping_timeout >= protocol_period) {
    return "ping_timeout: " + ms(ping_timeout) + " must be > 0 and below protocol_period (" +
           ms(protocol_period) + ")";
  }
  if (ping_req_fanout < 0 || ping_req_fanout > 16) return "ping_req_fanout: must be 0..16";
  if (probe_strikes < 1 || probe_strikes > 8) return "probe_strikes: must be 1..8";
  if (suspicion_min <= Duration::zero()) return "suspicion_min: must be > 0";
  if (suspicion_max < suspicion_min) {
    return "suspicion_max: " + ms(suspicion_max) + " is below suspicion_min (" + ms(suspicion_min) +
           ")";
  }
  if (suspicion_confirmations < 0 || suspicion_confirmations > 64) {
    return "suspicion_confirmations: must be 0..64";
  }
  if (awareness_max < 1 || awareness_max > 64) return "awareness_max: must be 1..64";
  if (lag_tolerance < Duration::zero()) return "lag_tolerance: must be >= 0";
  if (faulty_timeout <= Duration::zero()) return "faulty_timeout: must be > 0";
  if (tombstone_timeout <= Duration::zero()) return "tombstone_timeout: must be > 0";
  if (retransmit_mult < 1 || retransmit_mult > 64) return "retransmit_mult: must be 1..64";
  if (datagram_budget < 512 || datagram_budget > 65000) {
    return "datagram_budget: must be 512..65000 bytes";
  }
  if (gossip_fanout < 0 || gossip_fanout > 16) return "gossip_fanout: must be 0..16";
  if (changes_per_message_max < 1) return "changes_per_message_max: must be >= 1";
  if (sync_mismatches_trigger < 1) return "sync_mismatches_trigger: must be >= 1";
  if (sync_mismatch_min < Duration::zero()) return "sync_mismatch_min: must be >= 0";
  if (join_fanout < 1 || join_fanout > 16) return "join_fanout: must be 1..16";
  if (join_backoff_min <= Duration::zero() || join_backoff_max < join_backoff_min) {
    return "join_backoff_min/max: need 0 < min <= max";
  }
  if (tcp_timeout <= Duration::zero()) return "tcp_timeout: must be > 0";
  if (heal_interval <= Duration::zero()) return "heal_interval: must be > 0";
  if (push_pull_interval < Duration::zero()) return "push_pull_interval: must be >= 0 (0: off)";
  if (heal_fanout < 0) return "heal_fanout: must be >= 0";
  if (incarnation_ahead_max < Duration::zero() ||
      incarnation_ahead_max > std::chrono::hours(24 * 3650)) {
    return "incarnation_ahead_max: must be 0..10 years";
  }
  return "";
}

}  // namespace shoal::membership
