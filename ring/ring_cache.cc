// Copyright shoal authors. RingCache: snapshots shared by content among
// the builders of one process (ring.h).

#include <utility>
#include <vector>

#include "shoal/ring/ring.h"

namespace shoal::ring {

std::shared_ptr<const Ring> RingCache::find(uint64_t checksum, uint32_t replica_points) const {
  auto [first, last] = rings_.equal_range(checksum);
  for (auto it = first; it != last; ++it) {
    auto ring = it->second.lock();
    if (ring && ring->replica_points() == replica_points) return ring;
  }
  return nullptr;
}

void RingCache::insert(const std::shared_ptr<const Ring>& ring) {
  rings_.emplace(ring->checksum(), ring);
  // Forget the snapshots nobody holds any more, now and then: the table
  // stays about as big as the number of live snapshots.
  if (++inserts_since_prune_ < 1024 && inserts_since_prune_ < rings_.size()) return;
  inserts_since_prune_ = 0;
  for (auto it = rings_.begin(); it != rings_.end();) {
    it = it->second.expired() ? rings_.erase(it) : std::next(it);
  }
}

std::shared_ptr<const Ring> RingBuilder::cached_next() const {
  // The next snapshot's members: the current ones, less the removed, with
  // the added (or re-weighted) merged in, in name order.
  const Ring& old = *current_;
  std::vector<std::string_view> names;
  std::vector<double> weights;
  names.reserve(old.members_.size() + adds_.size());
  weights.reserve(names.capacity());
  auto add = adds_.begin();
  for (size_t i = 0;; ++i) {
    const bool more = i < old.members_.size();
    while (add != adds_.end() && (!more || add->first < old.members_[i])) {
      names.push_back(add->first);
      weights.push_back(add->second);
      ++add;
    }
    if (!more) break;
    const std::string_view m = old.members_[i];
    if (add != adds_.end() && add->first == m) {  // re-weighted
      names.push_back(add->first);
      weights.push_back(add->second);
      ++add;
    } else if (!removes_.contains(m)) {
      names.push_back(m);
      weights.push_back(old.weights_[old.member_slot_[i]]);
    }
  }
  auto hit =
      cache_->find(ring_checksum(names, weights, old.replica_points()), old.replica_points());
  // Equal checksums: make sure the members are equal too.
  if (!hit || hit->members_.size() != names.size()) return nullptr;
  for (size_t i = 0; i < names.size(); ++i) {
    if (hit->members_[i] != names[i] || hit->weights_[hit->member_slot_[i]] != weights[i]) {
      return nullptr;
    }
  }
  return hit;
}

}  // namespace shoal::ring
