// Copyright shoal authors. Ring publication: membership events in, ring
// snapshots out, without I/O.
//
//   MemberEvent --on_event--> RingBuilder (add alive/suspect, remove the
//                             rest and the draining) --tick at next_deadline--> build() -->
//                             RingPublisher (readers on any thread)
//
// Rebuilding a ring copies every point: ~0.3 us per member on an idle
// machine, 1 us with a thousand busy processes, and a thousand co-located
// nodes multiply any per-node cost by a thousand. So publication is
// coalesced: the first change after a quiet spell is published
// kDelayMin later; each further publication while changes keep coming
// doubles the delay, up to 2 ms per member (10 ms..2 s). "Quiet" means no
// publication for a whole capped delay: a paced stream of changes (a cold
// start delivers a join every few ms to 100s of ms) backs off like a burst
// does. Under sustained churn rebuilds then cost at most ~0.05% of a core
// per node, whatever the size, and the ring trails membership by at most
// the cap.
//
// Time is passed in (node/ on Asio, tests/sim in virtual time). Thread
// safety: one thread calls everything but publisher(), whose snapshots any
// thread may read.

#ifndef SHOAL_NODE_RING_FEED_H_
#define SHOAL_NODE_RING_FEED_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "shoal/membership/membership.h"
#include "shoal/node/events.h"
#include "shoal/ring/publisher.h"
#include "shoal/ring/ring.h"

namespace shoal::node {

class RingFeed {
 public:
  static constexpr membership::Duration kDelayMin = std::chrono::milliseconds(10);
  static constexpr membership::Duration kDelayMax = std::chrono::seconds(2);
  static constexpr membership::Duration kDelayPerMember = std::chrono::milliseconds(2);

  // Starts with a ring of `self` alone (an empty one if `self_on_ring` is
  // false: a node that starts labelled draining), published at once to
  // `publisher` (which must outlive the feed; the node's exists before it
  // starts, so readers taken then see every ring), or to one of its own if
  // null.
  // With a `cache`, snapshots are shared with the other feeds that use it
  // (ring::RingCache: the simulator's nodes).
  RingFeed(uint32_t replica_points, const std::string& self,
           ring::RingPublisher* publisher = nullptr, bool self_on_ring = true,
           double self_weight = 1.0, ring::RingCache* cache = nullptr);

  // Checksum only (the simulator's protocol scenarios, where nothing looks
  // a key up): from now on a publication computes the checksum the ring
  // would have, from the membership table (tick_checksum), and builds no
  // ring: N nodes would otherwise hold N different rings of N x 100 points
  // while a cold start converges. The published ring stays as it was; a
  // ring is a function of its members, weights and replica_points, so
  // equal checksums are equal rings.
  void set_checksum_only();
  bool checksum_only() const { return checksum_only_; }
  // In checksum-only mode, tick() computes nothing: the driver calls this
  // instead, with the node's membership table.
  void tick_checksum(membership::Instant now, const membership::Membership& table);
  // The current ring's checksum and member count (in checksum-only mode,
  // the last computed ones).
  uint64_t checksum() const;
  size_t member_count() const;

  RingFeed(const RingFeed&) = delete;
  RingFeed& operator=(const RingFeed&) = delete;

  // Alive and suspect members are on the ring; any other status, or a
  // forgotten member, is not. Schedules a publication if this changes it.
  void on_event(const membership::MemberEvent& e, membership::Instant now);
  membership::Instant next_deadline() const { return publish_at_; }
  // Publishes the pending changes if due; returns what changed, if anything.
  std::optional<RingChange> tick(membership::Instant now);

  const ring::RingPublisher& publisher() const { return *publisher_; }
  std::shared_ptr<const ring::Ring> current() const { return publisher_->current(); }

 private:
  membership::Duration delay_cap() const;

  ring::RingBuilder builder_;
  std::unique_ptr<ring::RingPublisher> own_;  // if not given one
  ring::RingPublisher* publisher_;
  bool checksum_only_ = false;
  bool changed_ = false;  // checksum-only: an event since the last publication
  uint64_t checksum_ = 0;
  size_t member_count_ = 0;
  membership::Instant publish_at_ = membership::kNever;
  membership::Duration delay_ = kDelayMin;
  std::optional<membership::Instant> published_at_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_RING_FEED_H_
