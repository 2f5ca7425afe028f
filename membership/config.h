// Copyright shoal authors. Every tunable of the membership protocol, with
// its formula, its trade-off and the honest origin of its default.
//
// Defaults are a LAN profile (docs/PROTOCOL.md lists them). validate()
// names the first bad field; a node refuses to start with an invalid config.

#ifndef SHOAL_MEMBERSHIP_CONFIG_H_
#define SHOAL_MEMBERSHIP_CONFIG_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "shoal/membership/types.h"

namespace shoal::membership {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Far below 2^64, so that no accepted incarnation can wrap when bumped.
inline constexpr Incarnation kIncarnationStartMax = Incarnation{1} << 60;
// How much further than incarnation_ahead_max a member's claim about
// itself may go (its refutations): one hour of milliseconds.
inline constexpr Duration kRefutationHeadroom = std::chrono::hours(1);

// The protocol's parameters: what an operator tunes (a node takes them as
// NodeOptions::protocol; who the node is comes separately, in Config).
struct Tuning {
  // How far an incarnation may lie ahead of this node's clock. Because
  // incarnations start at wall-clock milliseconds, this node knows roughly
  // what the largest honest incarnation is now: its own start incarnation
  // plus the milliseconds since it started, plus other members' clock
  // skew, plus one per refutation. A claim that would raise a member's
  // incarnation beyond that plus incarnation_ahead_max is rejected and
  // counted (changes_rejected): without the bound one forged claim
  // "suspect at 2^64-1" made its member's refutation wrap to 0, which
  // every node ignored as stale, and evicted the member for good. A member
  // refuting a claim about itself may go kRefutationHeadroom further, so
  // its refutation outbids any claim that others accepted. 24 hours of
  // clock skew is far more than NTP allows and still 2^37 times below the
  // wrap; a node whose clock runs more than that ahead cannot join.
  Duration incarnation_ahead_max = std::chrono::hours(24);

  // ---- failure detection (SWIM) ----
  // One probe per period. 200 ms is memberlist's LAN gossip interval and
  // five times faster than its probe interval: detection time scales with
  // it, bandwidth too (about flat in N, see docs/PERFORMANCE.md).
  // Never faster than 50 ms: below that a busy node misses its own timers.
  Duration protocol_period = milliseconds(200);
  // Wait this long for a direct ack before asking ping_req_fanout helpers.
  // 100 ms is generous on a LAN (round trips are well under 1 ms) and
  // leaves half the period for the indirect probe. Lifeguard stretches it.
  Duration ping_timeout = milliseconds(100);
  // Helpers asked to probe indirectly (SWIM's k). 3 as SWIM and memberlist:
  // with loss p per message an indirect path fails with 1-(1-p)^4; three
  // paths make a false suspicion from loss alone rare.
  int ping_req_fanout = 3;
  // Alongside the ping-reqs, one direct ping over TCP (memberlist's
  // fallback probe): a member whose UDP is dropped on the way (a firewall
  // between two hosts, a saturated path) but that answers on TCP is not
  // suspected. Costs a TCP connection per failed direct probe.
  bool tcp_fallback_probe = true;
  // Consecutive failed probe periods before a member is suspected. A
  // failed period re-probes the same member next period. 1 is plain SWIM;
  // 2 squares the false-suspicion rate under random loss at the cost of
  // one period of detection time (see docs/PROTOCOL.md).
  int probe_strikes = 2;

  // ---- suspicion (Lifeguard) ----
  // A suspect becomes faulty after
  //   timeout(C) = max(min, max - (max - min) * log(C + 1) / log(K + 1))
  // where C counts independent confirmations (other members that also
  // suspect it) and K = suspicion_confirmations. Alone, a suspicion waits the
  // maximum: time for the member to hear and refute. Confirmed by K
  // members, it waits the minimum. The 1 s / 5 s pair gives 5
  // periods at least, so a refutation can travel. Both hold up
  // to 100 members and grow with log10(N) / 2 beyond (x1.5 at 1000): a
  // refutation needs O(log N) rounds, and in a big cluster a briefly
  // stalled member is probed, suspected and confirmed by many at once.
  Duration suspicion_min = seconds(1);
  Duration suspicion_max = seconds(5);
  int suspicion_confirmations = 3;

  // ---- local health awareness (Lifeguard) ----
  // Score 0..awareness_max-1; probe period and ping timeout are multiplied
  // by (score + 1). Missed nacks and refutations raise it, acks lower it. 8
  // is memberlist's AwarenessMaxMultiplier.
  int awareness_max = 8;
  // A timer that fires more than lag_tolerance after it was due means this
  // process was starved of CPU (an overloaded host): raise the health score
  // by one per lag_tolerance of lateness. Beyond Lifeguard, which only watches the network: when a
  // machine runs more nodes than it has cores for, its nodes stretch their
  // probing instead of flooding each other with suspicions, and the load
  // that caused the lag goes down. Anything that stalls the io thread
  // counts (a blocking DNS lookup of a seed, too). Zero disables.
  Duration lag_tolerance = milliseconds(50);

  // ---- forgetting ----
  // Faulty or left members stay known this long (so stale alive claims
  // about them are recognised), then become tombstones; tombstones are
  // forgotten after tombstone_timeout more.
  Duration faulty_timeout = seconds(60);
  Duration tombstone_timeout = seconds(60);

  // ---- dissemination ----
  // Each change is piggybacked at most retransmit_mult * ceil(log2(N + 1))
  // times by each node that has it. 4 as memberlist's RetransmitMult: with
  // that many sends an epidemic reaches all N with high probability.
  int retransmit_mult = 4;
  // Encoded envelope budget per datagram: 1500-byte Ethernet MTU minus IPv6
  // (40) and UDP (8) headers, minus room for an authentication tag.
  size_t datagram_budget = 1400;
  // Members sent a Gossip message per period while changes are pending
  // (memberlist's GossipNodes). Speeds up dissemination from ~3x per period
  // (ping + ack piggyback) to ~6x at no cost when nothing changes.
  int gossip_fanout = 3;
  // At most this many changes are applied from one message; the rest are
  // counted and dropped (a bound on work per datagram).
  size_t changes_per_message_max = 64;

  // ---- anti-entropy (push-pull full sync) ----
  // Every message carries its sender's checksum. While a change spreads,
  // some peers match ours and some do not; a match resets the count. If no
  // peer has matched for sync_mismatch_min and at least
  // sync_mismatches_trigger messages disagreed, gossip is not going to fix
  // it (a cold start's backlog, a lost change, a healed partition): do a
  // full sync with the last disagreeing peer, at most once per
  // sync_interval_min. 500 ms is 2.5 periods, about how long a change takes
  // to reach a 1000-node cluster's majority. Shorter than the first
  // choice (1 s / 2 s): early joiners of a cold start are spread only by
  // gossip learners (join responses are not re-gossiped) and waited for a
  // sync; docs/PERFORMANCE.md has the measurements (cold start 100 nodes
  // max 3.35 -> 1.55 s, 1000 nodes 4.6 -> 2.5 s; 0 false faulty at 10-30%
  // loss, 2-3% more bytes).
  int sync_mismatches_trigger = 3;
  Duration sync_mismatch_min = milliseconds(500);
  Duration sync_interval_min = milliseconds(750);
  // Besides: a full sync with one random member every push_pull_interval
  // (memberlist's PushPullInterval, and its scaling: x (ceil(log2(N / 32))
  // + 1) above 32 members, so 30 s up to 32, 180 s at 1000), the first at
  // a random time within it. It carries the app's state both ways
  // (Membership::set_app_state) and repairs what gossip and the checksum
  // trigger miss. 0: off.
  Duration push_pull_interval = seconds(30);

  // ---- join, healing, leave ----
  // Seeds contacted at once per join attempt.
  int join_fanout = 3;
  // Join retry backoff doubles from min to max, and never stops while this
  // node is alone.
  Duration join_backoff_min = milliseconds(200);
  Duration join_backoff_max = seconds(5);
  // A TCP exchange (join, sync) that has not answered in this long failed.
  Duration tcp_timeout = seconds(2);
  // Every heal_interval, with probability heal_fanout / (alive members), try
  // to re-join a known faulty address or a seed that is not a member
  // (Ringpop's partition healing): about heal_fanout attempts per interval
  // cluster-wide, whatever N.
  Duration heal_interval = seconds(5);
  int heal_fanout = 3;

  // Returns "" if every parameter is in bounds, else what is wrong
  // ("protocol_period: 10ms is below the 50ms minimum").
  std::string validate() const;
};

// A node's whole configuration: who it is (the driver fills this in) and
// the parameters it runs with.
struct Config : Tuning {
  // This node's advertised address ("host:port", IPv6 in brackets). Other
  // members reach it there.
  std::string address;
  // This node's identity in the cluster and on the ring (member_address.h,
  // check_member_name); "" means its address. A member that comes back
  // under the same name on another address keeps its place on the ring.
  std::string name;
  const std::string& identity() const { return name.empty() ? address : name; }
  // Cluster name, carried in every envelope; members of other clusters are
  // dropped by the codec. The core needs only its length (datagram budget).
  std::string cluster = "shoal";
  // Labels gossiped with this member (small: they ride in every alive claim).
  Labels labels;
  // Incarnation to start from: the driver passes the wall-clock
  // milliseconds at process start, so a restart outranks the former self.
  // At most kIncarnationStartMax.
  Incarnation incarnation = 0;
  // Returns "" if valid, else what is wrong: the identity, then the
  // parameters (Tuning::validate), then that this node's own claim fits a
  // datagram.
  std::string validate() const;
};

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_CONFIG_H_
