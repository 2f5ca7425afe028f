// Copyright shoal authors. Consistent hash ring: see ring.h for the contract.

#include "shoal/ring/ring.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

// Inline xxHash into this translation unit: a 16-byte key hashes in a few
// nanoseconds, and a call into the shared library would cost as much again.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "shoal/membership/assert.h"

namespace shoal::ring {

namespace {

constexpr uint32_t kRemoved = std::numeric_limits<uint32_t>::max();
// Walks that look for distinct owners keep them on the stack up to this many.
constexpr size_t kSmallN = 16;

uint64_t hash_bytes(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

// A member of weight 1.0 is its name; another weight is "name*P", P its
// point count (so rings without weights keep the checksum they had).
uint64_t compute_checksum(std::span<const std::string> sorted_members,
                          std::span<const double> weights, uint32_t replica_points) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  for (size_t i = 0; i < sorted_members.size(); ++i) {
    const std::string& a = sorted_members[i];
    if (i > 0) XXH3_64bits_update(&state, ";", 1);
    XXH3_64bits_update(&state, a.data(), a.size());
    if (i < weights.size() && weights[i] != 1.0) {
      const std::string points =
          "*" + std::to_string(points_for_weight(replica_points, weights[i]));
      XXH3_64bits_update(&state, points.data(), points.size());
    }
  }
  return XXH3_64bits_digest(&state);
}

}  // namespace

uint64_t key_hash(std::string_view key) { return hash_bytes(key); }

uint64_t point_hash(std::string_view member, uint32_t index) {
  // member + "#" + decimal(index), assembled without allocating for the
  // common name lengths.
  char stack[128];
  std::string heap;
  char* buf = stack;
  const size_t need = member.size() + 1 + 10;
  if (need > sizeof(stack)) {
    heap.resize(need);
    buf = heap.data();
  }
  std::copy(member.begin(), member.end(), buf);
  buf[member.size()] = '#';
  char* digits = buf + member.size() + 1;
  auto [end, ec] = std::to_chars(digits, buf + need, index);
  SHOAL_ASSERT(ec == std::errc());
  return XXH3_64bits(buf, static_cast<size_t>(end - buf));
}

uint32_t points_for_weight(uint32_t replica_points, double weight) {
  if (!std::isfinite(weight) || weight <= 0.0) return 0;
  const double points = std::round(static_cast<double>(replica_points) * weight);
  if (points > static_cast<double>(kMaxPointsPerMember)) return 0;
  return std::max<uint32_t>(1, static_cast<uint32_t>(points));
}

// ------------------------------------------------------------------ Ring

Ring::Ring(uint32_t replica_points) : replica_points_(replica_points) {
  allocate_points(0);
  finish();
}

uint32_t* Ring::allocate_points(size_t count) {
  points_ = std::make_unique_for_overwrite<Point[]>(count + kWindow);
  point_count_ = count;
  // k = floor(log2(points)), at least 1: at most one bucket per point, so the
  // table costs <= 4 bytes per point, and buckets hold 1-2 points on average.
  const uint32_t k = count < 4 ? 1u : static_cast<uint32_t>(std::bit_width(count) - 1);
  bucket_shift_ = 64 - k;
  buckets_.assign((size_t{1} << k) + 1, 0);
  return buckets_.data();
}

void Ring::finish() {
  const size_t n = point_count_;
  const uint32_t wrap_owner = n == 0 ? 0 : points_[0].member;
  for (size_t s = 0; s < kWindow; ++s) points_[n + s] = Point{UINT64_MAX, wrap_owner};

  // buckets_[b] must be the first point with hash >= b << shift, i.e. the
  // number of points in buckets < b. The filler stored ends[c + 1] = 1 + the
  // last point of bucket c (0 where bucket c is empty), so the answer is the
  // running maximum of ends[0..b]: one pass, no data-dependent branches.
  uint32_t* ends = buckets_.data();
  const size_t bucket_count = buckets_.size() - 1;
  uint32_t run = 0;
  for (size_t b = 0; b < bucket_count; ++b) {
    run = std::max(run, ends[b]);
    ends[b] = run;
  }
  buckets_.pop_back();

  owner_.assign(members_.begin(), members_.end());
  checksum_ = compute_checksum(members_, weights_, replica_points_);
}

inline size_t Ring::first_point_at_or_after(uint64_t hash) const {
  const Point* p = points_.get();
  size_t i = buckets_[hash >> bucket_shift_];
  // Count the window's points below `hash`, without branches: the points are
  // sorted, so the count is the offset of the first point >= hash if that
  // point is inside the window. Buckets average 1-2 points, so a window of 4
  // almost always decides; otherwise scan on (sentinels stop the scan).
  for (;;) {
    size_t below = 0;
    for (size_t w = 0; w < kWindow; ++w) below += p[i + w].hash < hash;
    i += below;
    if (below < kWindow) [[likely]]
      return i;
  }
}

std::string_view Ring::lookup_hash(uint64_t hash) const {
  // Past the last real point, i lands on a sentinel that carries the first
  // point's owner; on an empty ring, owner_ is empty.
  if (point_count_ == 0) return {};
  return owner_[points_[first_point_at_or_after(hash)].member];
}

std::string_view Ring::lookup(std::string_view key) const { return lookup_hash(hash_bytes(key)); }

size_t Ring::lookup_n(std::string_view key, std::span<std::string_view> out) const {
  return lookup_n_hash(hash_bytes(key), out);
}

size_t Ring::lookup_n_hash(uint64_t hash, std::span<std::string_view> out) const {
  const size_t want = std::min(out.size(), members_.size());
  if (want == 0) return 0;
  const size_t n = point_count_;
  size_t i = first_point_at_or_after(hash);
  if (i == n) i = 0;
  size_t found = 0;
  if (want <= kSmallN) {
    uint32_t seen[kSmallN];
    // Every member owns >= 1 point, so a full turn finds `want` members.
    for (size_t steps = 0; steps < n && found < want; ++steps) {
      const uint32_t m = points_[i].member;
      if (std::find(seen, seen + found, m) == seen + found) {
        seen[found] = m;
        out[found++] = owner_[m];
      }
      if (++i == n) i = 0;
    }
  } else {
    std::vector<bool> seen(members_.size());
    for (size_t steps = 0; steps < n && found < want; ++steps) {
      const uint32_t m = points_[i].member;
      if (!seen[m]) {
        seen[m] = true;
        out[found++] = owner_[m];
      }
      if (++i == n) i = 0;
    }
  }
  SHOAL_ASSERT(found == want);
  return found;
}

std::vector<std::string_view> Ring::lookup_n(std::string_view key, size_t n) const {
  std::vector<std::string_view> out(std::min(n, members_.size()));
  out.resize(lookup_n(key, std::span<std::string_view>(out)));
  return out;
}

std::vector<std::string_view> Ring::lookup_n_if(
    std::string_view key, size_t n, const std::function<bool(std::string_view)>& accept) const {
  std::vector<std::string_view> out;
  if (n == 0 || point_count_ == 0) return out;
  enum : uint8_t { kUnseen, kTaken, kSkipped };
  std::vector<uint8_t> seen(members_.size(), kUnseen);
  size_t i = first_point_at_or_after(hash_bytes(key));
  if (i == point_count_) i = 0;
  size_t decided = 0;
  for (size_t steps = 0; steps < point_count_ && out.size() < n && decided < seen.size(); ++steps) {
    const uint32_t m = points_[i].member;
    if (seen[m] == kUnseen) {
      ++decided;
      seen[m] = accept(owner_[m]) ? kTaken : kSkipped;
      if (seen[m] == kTaken) out.push_back(owner_[m]);
    }
    if (++i == point_count_) i = 0;
  }
  return out;
}

std::string_view Ring::lookup_if(std::string_view key,
                                 const std::function<bool(std::string_view)>& accept) const {
  auto owners = lookup_n_if(key, 1, accept);
  return owners.empty() ? std::string_view() : owners[0];
}

int Ring::index_of(std::string_view member) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), member,
                             [](const std::string& a, std::string_view b) { return a < b; });
  if (it == members_.end() || *it != member) return -1;
  return static_cast<int>(it - members_.begin());
}

bool Ring::contains(std::string_view member) const { return index_of(member) >= 0; }

double Ring::weight(std::string_view member) const {
  const int i = index_of(member);
  return i < 0 ? 0.0 : weights_[static_cast<size_t>(i)];
}

size_t Ring::lookup_memory_bytes() const {
  return (point_count_ + kWindow) * sizeof(Point) + buckets_.capacity() * sizeof(uint32_t);
}

// ----------------------------------------------------------- RingBuilder

RingBuilder::RingBuilder(uint32_t replica_points)
    : current_(std::make_shared<const Ring>(replica_points)) {}

RingBuilder::RingBuilder(std::shared_ptr<const Ring> base) : current_(std::move(base)) {
  SHOAL_ASSERT(current_ != nullptr);
}

bool RingBuilder::add(std::string_view member, double weight) {
  if (member.empty() || points_for_weight(current_->replica_points(), weight) == 0) {
    return false;
  }
  if (auto it = removes_.find(member); it != removes_.end()) removes_.erase(it);
  if (current_->weight(member) == weight) {
    // Already present with this weight: nothing to queue.
    if (auto it = adds_.find(member); it != adds_.end()) adds_.erase(it);
    return true;
  }
  adds_.insert_or_assign(std::string(member), weight);
  return true;
}

void RingBuilder::remove(std::string_view member) {
  if (auto it = adds_.find(member); it != adds_.end()) adds_.erase(it);
  // Removing a non-member queues nothing.
  if (current_->contains(member)) removes_.emplace(member);
}

// Step 1 of build(): the new member list, sorted: old members that stay
// (same weight), merged with the members to (re-)hash.
// plan.remap[old index] = new index, or kRemoved.
RingBuilder::Plan RingBuilder::plan_members(const Ring& old, Ring& next) const {
  Plan plan;
  const size_t old_count = old.members_.size();
  plan.remap.assign(old_count, kRemoved);
  plan.keep.assign(old_count, true);
  for (size_t i = 0; i < old_count; ++i) {
    const std::string& a = old.members_[i];
    if (removes_.count(a) != 0) {
      plan.keep[i] = false;
    } else if (auto it = adds_.find(a); it != adds_.end()) {
      // Same weight: nothing changes. New weight: re-hash it.
      if (it->second != old.weights_[i]) plan.keep[i] = false;
    }
  }
  for (const auto& [member, weight] : adds_) {
    const int i = old.index_of(member);
    if (i < 0 || !plan.keep[static_cast<size_t>(i)]) plan.fresh.emplace_back(member, weight);
  }
  next.members_.reserve(old_count + plan.fresh.size());
  next.weights_.reserve(old_count + plan.fresh.size());
  plan.fresh_index.resize(plan.fresh.size());
  size_t i = 0;
  size_t j = 0;
  while (i < old_count || j < plan.fresh.size()) {
    if (i < old_count && !plan.keep[i]) {
      ++i;
      continue;
    }
    const auto index = static_cast<uint32_t>(next.members_.size());
    if (j == plan.fresh.size() || (i < old_count && old.members_[i] < plan.fresh[j].first)) {
      plan.remap[i] = index;
      next.members_.push_back(old.members_[i]);
      next.weights_.push_back(old.weights_[i]);
      ++i;
    } else {
      plan.fresh_index[j] = index;
      next.members_.emplace_back(plan.fresh[j].first);
      next.weights_.push_back(plan.fresh[j].second);
      ++j;
    }
  }
  return plan;
}

// Step 2: hash only the fresh members' points, sorted by (hash, member).
std::vector<Ring::Point> RingBuilder::hash_fresh(const Plan& plan, uint32_t replica_points) {
  std::vector<Ring::Point> added;
  for (size_t j = 0; j < plan.fresh.size(); ++j) {
    const uint32_t count = points_for_weight(replica_points, plan.fresh[j].second);
    for (uint32_t p = 0; p < count; ++p) {
      added.push_back({point_hash(plan.fresh[j].first, p), plan.fresh_index[j]});
    }
  }
  // Sorted by (hash, member). Member indices follow name order, so this
  // is (hash, name). The points were generated in member order, so a
  // stable sort by hash alone gives the same order.
  if (added.size() < kRadixSortMin) {
    std::sort(added.begin(), added.end(), [](const Ring::Point& a, const Ring::Point& b) {
      return a.hash != b.hash ? a.hash < b.hash : a.member < b.member;
    });
  } else {
    radix_sort_by_hash(added);
  }
  return added;
}

// LSD radix sort, 16 bits a pass, stable: a newcomer's first ring (every
// member fresh: 100,000 points at 1000 members) sorts in about a fifth of
// std::sort's time on 12-byte packed points.
void RingBuilder::radix_sort_by_hash(std::vector<Ring::Point>& points) {
  std::vector<Ring::Point> out(points.size());
  std::vector<uint32_t> start(size_t{1} << 16);
  for (int shift = 0; shift < 64; shift += 16) {
    std::fill(start.begin(), start.end(), 0);
    for (const Ring::Point& p : points) ++start[(p.hash >> shift) & 0xffff];
    uint32_t sum = 0;
    for (uint32_t& s : start) sum += std::exchange(s, sum);
    for (const Ring::Point& p : points) out[start[(p.hash >> shift) & 0xffff]++] = p;
    points.swap(out);  // four passes: the result ends in `points`
  }
}

// Step 3: merge the fresh points with the surviving old points. remap is
// monotone, so the old points stay sorted by (hash, member) after
// remapping: copy the runs between the newcomers' insertion points,
// remapping and dropping the removed members' points without branches.
void RingBuilder::merge_points(const Ring& old, const Plan& plan,
                               const std::vector<Ring::Point>& added, Ring& next) {
  const uint32_t replica_points = old.replica_points();
  size_t total = added.size();
  for (size_t i = 0; i < old.members_.size(); ++i) {
    if (plan.keep[i]) total += points_for_weight(replica_points, old.weights_[i]);
  }
  SHOAL_ASSERT(total < kRemoved);
  uint32_t* ends = next.allocate_points(total);
  const uint32_t shift = next.bucket_shift_;
  const Ring::Point* in = old.points_.get();
  const size_t in_count = old.point_count_;
  Ring::Point* out = next.points_.get();  // has kWindow spare slots
  const uint32_t* to = plan.remap.data();
  const bool removed_any = std::find(plan.keep.begin(), plan.keep.end(), false) != plan.keep.end();
  size_t o = 0;
  size_t k = 0;
  auto copy_until = [&](size_t end) {
    // Local copies: stores through Point* (uint64_t) may alias size_t
    // variables captured by reference.
    size_t oo = o;
    if (removed_any) {
      for (size_t kk = k; kk < end; ++kk) {
        const uint64_t h = in[kk].hash;
        const uint32_t m = to[in[kk].member];
        out[oo] = Ring::Point{h, m};
        oo += m != kRemoved;
        // A removed point writes an end that the next kept point of the
        // same bucket overwrites; if none follows, oo did not advance and
        // the value equals the previous kept point's end: still right.
        ends[(h >> shift) + 1] = static_cast<uint32_t>(oo);
      }
    } else {
      // Store addresses that do not wait for loads: faster when nothing
      // was removed, the common single-join case.
      for (size_t kk = k; kk < end; ++kk, ++oo) {
        const uint64_t h = in[kk].hash;
        out[oo] = Ring::Point{h, to[in[kk].member]};
        ends[(h >> shift) + 1] = static_cast<uint32_t>(oo + 1);
      }
    }
    o = oo;
    k = std::max(k, end);
  };
  for (const Ring::Point& a : added) {
    size_t pos = std::max(k, old.first_point_at_or_after(a.hash));
    // Equal hashes: old points of lower names go first.
    while (pos < in_count && in[pos].hash == a.hash &&
           (to[in[pos].member] == kRemoved || to[in[pos].member] < a.member)) {
      ++pos;
    }
    copy_until(pos);
    out[o++] = a;
    ends[(a.hash >> shift) + 1] = static_cast<uint32_t>(o);
  }
  copy_until(in_count);
  SHOAL_ASSERT(o == total);
}

std::shared_ptr<const Ring> RingBuilder::build() {
  if (!pending()) return current_;
  const Ring& old = *current_;
  auto next = std::make_shared<Ring>(old.replica_points());
  const Plan plan = plan_members(old, *next);
  const std::vector<Ring::Point> added = hash_fresh(plan, old.replica_points());
  merge_points(old, plan, added, *next);
  next->finish();
  adds_.clear();
  removes_.clear();
  current_ = std::move(next);
  return current_;
}

}  // namespace shoal::ring
