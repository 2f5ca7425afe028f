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

// Walks that look for distinct owners keep them on the stack up to this many.
constexpr size_t kSmallN = 16;

uint64_t hash_bytes(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

}  // namespace

// A member of weight 1.0 is its name; another weight is "name*P", P its
// point count (so rings without weights keep the checksum they had).
uint64_t ring_checksum(std::span<const std::string_view> names, std::span<const double> weights,
                       uint32_t replica_points) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string_view a = names[i];
    if (i > 0) XXH3_64bits_update(&state, ";", 1);
    XXH3_64bits_update(&state, a.data(), a.size());
    if (weights[i] != 1.0) {
      const std::string points =
          "*" + std::to_string(points_for_weight(replica_points, weights[i]));
      XXH3_64bits_update(&state, points.data(), points.size());
    }
  }
  return XXH3_64bits_digest(&state);
}

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
  segments_.assign(1, make_segment({}, 0));
  finish();
}

Ring::SegmentPtr Ring::make_segment(std::span<const Point> points, uint32_t seg_bits) {
  const size_t n = points.size();
  SHOAL_ASSERT(n < std::numeric_limits<uint32_t>::max() - kWindow);
  const auto count = static_cast<uint32_t>(n);
  const size_t bytes = seg_bytes(count);
  auto seg =
      std::make_shared_for_overwrite<SegWord[]>((bytes + sizeof(SegWord) - 1) / sizeof(SegWord));
  std::byte* d = seg[0].bytes;
  *reinterpret_cast<uint32_t*>(d) = count;
  *reinterpret_cast<uint32_t*>(d + 4) = 0;
  auto* out = reinterpret_cast<Point*>(d + kPointsOffset);
  std::copy(points.begin(), points.end(), out);
  for (size_t s = 0; s < kWindow; ++s) out[n + s] = Point{UINT64_MAX, kSentinel};
  auto* sub = reinterpret_cast<uint16_t*>(d + 8);
  // sub[b] = how many points fall in sub-buckets below b: a count and a
  // running sum, without data-dependent branches.
  uint32_t in_bucket[kSubs] = {};
  for (const Point& pt : points) ++in_bucket[(pt.hash << seg_bits) >> (64 - kSubBits)];
  uint32_t below = 0;
  for (size_t b = 0; b < kSubs; ++b) {
    sub[b] = static_cast<uint16_t>(std::min<uint32_t>(below, UINT16_MAX));
    below += in_bucket[b];
  }
  return seg;
}

void Ring::finish(const Ring* base, std::span<const uint32_t> touched) {
  if (base != nullptr && base->top_.size() == segments_.size()) {
    top_ = base->top_;
    point_count_ = base->point_count_;
    for (const uint32_t s : touched) {
      point_count_ -= seg_count(top_[s]);
      top_[s] = segments_[s][0].bytes;
      point_count_ += seg_count(top_[s]);
    }
  } else {
    top_.resize(segments_.size());
    point_count_ = 0;
    for (size_t s = 0; s < segments_.size(); ++s) {
      top_[s] = segments_[s][0].bytes;
      point_count_ += seg_count(top_[s]);
    }
  }
  std::vector<double> weights(members_.size());
  for (size_t i = 0; i < members_.size(); ++i) weights[i] = weights_[member_slot_[i]];
  checksum_ = ring_checksum(members_, weights, replica_points_);
}

inline Ring::Pos Ring::first_at_or_after(uint64_t hash) const {
  // Two shifts so that seg_bits_ may be 0 (one segment).
  size_t s = (hash >> 1) >> (63 - seg_bits_);
  const std::byte* seg = top_[s];
  const Point* p = seg_points(seg);
  size_t i = seg_sub(seg)[(hash << seg_bits_) >> (64 - kSubBits)];
  // Count the window's points below `hash`, without branches: the points are
  // sorted, so the count is the offset of the first point >= hash if that
  // point is inside the window. Sub-buckets average 1-3 points, so a window
  // of 4 almost always decides; otherwise scan on (sentinels stop it).
  for (;;) {
    size_t below = 0;
    for (size_t w = 0; w < kWindow; ++w) below += p[i + w].hash < hash;
    i += below;
    if (below < kWindow) [[likely]]
      break;
  }
  if (p[i].slot != kSentinel) [[likely]]
    return {s, i};
  // Past this segment's last point: the next point clockwise.
  const size_t mask = top_.size() - 1;
  do s = (s + 1) & mask;
  while (seg_count(top_[s]) == 0);
  return {s, 0};
}

inline void Ring::next(Pos& p) const {
  if (++p.i < seg_count(top_[p.seg])) return;
  p.i = 0;
  const size_t mask = top_.size() - 1;
  do p.seg = (p.seg + 1) & mask;
  while (seg_count(top_[p.seg]) == 0);
}

const Ring::Point& Ring::first_point() const {
  SHOAL_ASSERT(point_count_ > 0);
  return at(first_at_or_after(0));
}

const Ring::Point& Ring::last_point() const {
  SHOAL_ASSERT(point_count_ > 0);
  size_t s = top_.size();
  while (seg_count(top_[--s]) == 0) {
  }
  return seg_points(top_[s])[seg_count(top_[s]) - 1];
}

std::string_view Ring::lookup_hash(uint64_t hash) const {
  if (point_count_ == 0) return {};
  return owner_[at(first_at_or_after(hash)).slot];
}

std::string_view Ring::lookup(std::string_view key) const { return lookup_hash(hash_bytes(key)); }

size_t Ring::lookup_n(std::string_view key, std::span<std::string_view> out) const {
  return lookup_n_hash(hash_bytes(key), out);
}

size_t Ring::lookup_n_hash(uint64_t hash, std::span<std::string_view> out) const {
  const size_t want = std::min(out.size(), members_.size());
  if (want == 0) return 0;
  const size_t n = point_count_;
  Pos pos = first_at_or_after(hash);
  size_t found = 0;
  if (want <= kSmallN) {
    uint32_t seen[kSmallN];
    // Every member owns >= 1 point, so a full turn finds `want` members.
    for (size_t steps = 0; steps < n && found < want; ++steps, next(pos)) {
      const uint32_t m = at(pos).slot;
      if (std::find(seen, seen + found, m) == seen + found) {
        seen[found] = m;
        out[found++] = owner_[m];
      }
    }
  } else {
    std::vector<bool> seen(owner_.size());
    for (size_t steps = 0; steps < n && found < want; ++steps, next(pos)) {
      const uint32_t m = at(pos).slot;
      if (!seen[m]) {
        seen[m] = true;
        out[found++] = owner_[m];
      }
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
  std::vector<uint8_t> seen(owner_.size(), kUnseen);
  Pos pos = first_at_or_after(hash_bytes(key));
  size_t decided = 0;
  for (size_t steps = 0; steps < point_count_ && out.size() < n && decided < members_.size();
       ++steps, next(pos)) {
    const uint32_t m = at(pos).slot;
    if (seen[m] == kUnseen) {
      ++decided;
      seen[m] = accept(owner_[m]) ? kTaken : kSkipped;
      if (seen[m] == kTaken) out.push_back(owner_[m]);
    }
  }
  return out;
}

std::string_view Ring::lookup_if(std::string_view key,
                                 const std::function<bool(std::string_view)>& accept) const {
  auto owners = lookup_n_if(key, 1, accept);
  return owners.empty() ? std::string_view() : owners[0];
}

int Ring::index_of(std::string_view member) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), member);
  if (it == members_.end() || *it != member) return -1;
  return static_cast<int>(it - members_.begin());
}

bool Ring::contains(std::string_view member) const { return index_of(member) >= 0; }

double Ring::weight(std::string_view member) const {
  const int i = index_of(member);
  return i < 0 ? 0.0 : weights_[member_slot_[static_cast<size_t>(i)]];
}

size_t Ring::lookup_memory_bytes() const {
  size_t bytes = segments_.capacity() * sizeof(SegmentPtr) + top_.capacity() * sizeof(top_[0]);
  // Each segment: one allocation, its reference counts (16 bytes) included.
  for (const std::byte* seg : top_) bytes += 16 + seg_bytes(seg_count(seg));
  return bytes;
}

size_t Ring::shared_segments(const Ring& other) const {
  if (segments_.size() != other.segments_.size()) return 0;
  size_t shared = 0;
  for (size_t s = 0; s < segments_.size(); ++s) shared += segments_[s] == other.segments_[s];
  return shared;
}

}  // namespace shoal::ring
