// Copyright shoal authors. See ring_feed.h.

#include "shoal/node/ring_feed.h"

#include <algorithm>

namespace shoal::node {

using membership::Duration;
using membership::Instant;

RingFeed::RingFeed(uint32_t replica_points, const std::string& self, ring::RingPublisher* publisher,
                   bool self_on_ring)
    : builder_(replica_points),
      own_(publisher ? nullptr : std::make_unique<ring::RingPublisher>()),
      publisher_(publisher ? publisher : own_.get()) {
  if (self_on_ring) (void)builder_.add(self);
  publisher_->publish(builder_.build());
}

Duration RingFeed::delay_cap() const {
  const Duration per_member =
      kDelayPerMember * static_cast<int64_t>(publisher_->current()->member_count());
  return std::clamp(per_member, kDelayMin, kDelayMax);
}

void RingFeed::on_event(const membership::MemberEvent& e, Instant now) {
  if (membership::is_pingable(e.status) && !e.forgotten && !is_draining(e.labels)) {
    (void)builder_.add(e.name);  // a no-op if already on the ring
  } else {
    builder_.remove(e.name);
  }
  if (!builder_.pending() || publish_at_ != membership::kNever) return;
  const Duration cap = delay_cap();
  const bool quiet = !published_at_ || now - *published_at_ >= cap;
  delay_ = quiet ? kDelayMin : std::min(2 * delay_, cap);
  publish_at_ = now + delay_;
}

std::optional<RingChange> RingFeed::tick(Instant now) {
  if (now < publish_at_) return std::nullopt;
  publish_at_ = membership::kNever;
  if (!builder_.pending()) return std::nullopt;
  published_at_ = now;
  auto before = publisher_->current();
  auto after = builder_.build();
  if (after == before) return std::nullopt;
  publisher_->publish(after);
  return RingChange{std::move(before), std::move(after)};
}

}  // namespace shoal::node
