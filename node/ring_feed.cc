// Copyright shoal authors. See ring_feed.h.

#include "shoal/node/ring_feed.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

namespace shoal::node {

using membership::Duration;
using membership::Instant;

RingFeed::RingFeed(uint32_t replica_points, const std::string& self, ring::RingPublisher* publisher,
                   bool self_on_ring, double self_weight, ring::RingCache* cache)
    : builder_(replica_points),
      own_(publisher ? nullptr : std::make_unique<ring::RingPublisher>()),
      publisher_(publisher ? publisher : own_.get()) {
  builder_.set_cache(cache);
  if (self_on_ring) (void)builder_.add(self, self_weight);
  publisher_->publish(builder_.build());
}

namespace {

// The weight label's value, if it is a decimal number in range.
std::optional<double> parse_weight(const std::string& text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  char* end = nullptr;
  const double w = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !(w >= kWeightMin && w <= kWeightMax)) {
    return std::nullopt;
  }
  return w;
}

// Whether a member of this status and these labels is on the ring: alive
// or suspect, and not draining (on_event and tick_checksum).
bool on_ring(membership::Status status, const Labels& labels) {
  return membership::is_pingable(status) && !is_draining(labels);
}

}  // namespace

double label_weight(const Labels& labels) {
  auto it = labels.find(kWeightLabel);
  if (it == labels.end()) return 1.0;
  return parse_weight(it->second).value_or(1.0);
}

std::string check_weight_label(const Labels& labels) {
  auto it = labels.find(kWeightLabel);
  if (it == labels.end() || parse_weight(it->second)) return "";
  return "label weight='" + it->second + "': must be a number in [0.1, 10]";
}

Duration RingFeed::delay_cap() const {
  const Duration per_member = kDelayPerMember * static_cast<int64_t>(member_count());
  return std::clamp(per_member, kDelayMin, kDelayMax);
}

void RingFeed::on_event(const membership::MemberEvent& e, Instant now) {
  if (checksum_only_) {
    changed_ = true;  // the ring may change: the table tells at publication
  } else if (!e.forgotten && on_ring(e.status, e.labels)) {
    // A no-op if already on the ring at this weight.
    (void)builder_.add(e.name, label_weight(e.labels));
  } else {
    builder_.remove(e.name);
  }
  if (!(checksum_only_ || builder_.pending()) || publish_at_ != membership::kNever) return;
  const Duration cap = delay_cap();
  const bool quiet = !published_at_ || now - *published_at_ >= cap;
  delay_ = quiet ? kDelayMin : std::min(2 * delay_, cap);
  publish_at_ = now + delay_;
}

void RingFeed::set_checksum_only() {
  checksum_only_ = true;
  checksum_ = publisher_->current()->checksum();
  member_count_ = publisher_->current()->member_count();
}

uint64_t RingFeed::checksum() const {
  return checksum_only_ ? checksum_ : publisher_->current()->checksum();
}

size_t RingFeed::member_count() const {
  return checksum_only_ ? member_count_ : publisher_->current()->member_count();
}

void RingFeed::tick_checksum(Instant now, const membership::Membership& table) {
  if (now < publish_at_) return;
  publish_at_ = membership::kNever;
  if (!changed_) return;
  changed_ = false;
  published_at_ = now;
  // The members the ring would hold, by the rule on_event applies.
  std::vector<std::string_view> names;
  std::vector<double> weights;
  table.for_each_member([&](const membership::MemberState& s) {
    if (!on_ring(s.status, s.labels)) return;
    names.push_back(s.name);
    weights.push_back(label_weight(s.labels));
  });
  checksum_ = ring::ring_checksum(names, weights, builder_.current()->replica_points());
  member_count_ = names.size();
}

std::optional<RingChange> RingFeed::tick(Instant now) {
  if (checksum_only_ || now < publish_at_) return std::nullopt;
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
