// Copyright shoal authors. What an app sees of the cluster: members, their
// changes and the ring's, and how listeners are run (Node::on_member_change,
// Node::on_ring_change).
//
// The member types are the membership core's value types under the names
// an app uses; the core itself (membership/membership.h) stays internal.

#ifndef SHOAL_NODE_EVENTS_H_
#define SHOAL_NODE_EVENTS_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "shoal/membership/types.h"
#include "shoal/ring/diff.h"
#include "shoal/ring/ring.h"

namespace shoal::node {

// A member: its name (identity, what the ring holds), status, incarnation,
// labels and address (empty: its name is its address; see address_of()).
using Member = membership::MemberState;
using MemberStatus = membership::Status;
using MemberEvent = membership::MemberEvent;
using membership::Incarnation;
using membership::is_pingable;
using membership::Labels;
using membership::to_string;
// Where a member is reached: its address, which is its name unless named.
using membership::address_of;

// A member labelled draining=true (it is leaving: Node::leave() drains)
// owns no keys: it is off every ring while it finishes what it runs.
inline constexpr const char* kDrainingLabel = "draining";
inline bool is_draining(const Labels& labels) {
  auto it = labels.find(kDrainingLabel);
  return it != labels.end() && it->second == "true";
}

// A member labelled weight=W gets about W times the keys of one at 1.0
// (its ring points: replica_points x W). W is a decimal in [0.1, 10]. Other
// members' labels: an absent, unparsable or out-of-range weight counts
// as 1.0 (check_weight_label says what is wrong with this node's own).
inline constexpr const char* kWeightLabel = "weight";
inline constexpr double kWeightMin = 0.1;
inline constexpr double kWeightMax = 10.0;
double label_weight(const Labels& labels);
// "" if `labels` have no weight or a valid one, else what is wrong.
std::string check_weight_label(const Labels& labels);

// A new ring snapshot and the one it replaced.
struct RingChange {
  std::shared_ptr<const ring::Ring> before;
  std::shared_ptr<const ring::Ring> after;
  // Who joined and left the ring, and which key ranges moved from whom to
  // whom (ring/diff.h): computed on each call (about 0.4 ms at 1000
  // members), so a callback that does not need it pays nothing.
  ring::RingDiff diff() const { return ring::diff(*before, *after); }
  // For an app keeping `n` copies of each key on its first n owners: which
  // key ranges gained or lost which member among them (ring/diff.h), so it
  // hands off only what moved. Computed on each call (about 8 ms at 1000
  // members and n = 3).
  ring::ReplicaDiff replica_diff(size_t n) const { return ring::replica_diff(*before, *after, n); }
};

// Runs a listener's calls off the io thread: executor(task) must run
// task() once, soon (an app's thread pool or event loop); in order if the
// app needs order.
using Executor = std::function<void(std::function<void()>)>;
using ListenerId = uint64_t;

}  // namespace shoal::node

#endif  // SHOAL_NODE_EVENTS_H_
