// Copyright shoal authors. Consistent hash ring.
//
// A Ring is an immutable snapshot of the members that own keys, and the
// points they occupy on a 64-bit hash circle. A member is its name (a
// node's member name: its address unless it was named), so a member that
// comes back at another address keeps its points and its keys. A RingBuilder makes new
// snapshots from old ones by applying batches of member changes.
//
// Placement (the cross-node contract; docs/PROTOCOL.md "Ring" has the prose):
//   * point i of member A, for i in [0, points(A)), sits at
//     XXH3_64bits(seed 0) of the bytes  A + "#" + decimal(i);
//   * points(A) = max(1, llround(replica_points * weight(A)));
//   * a key sits at XXH3_64bits(seed 0) of its bytes;
//   * the key's owner is the member of the first point whose hash is >= the
//     key's hash, wrapping round to the first point; points with equal
//     hashes are ordered by member name (bytewise);
//   * lookup_n walks on clockwise and returns the first n distinct members;
//   * checksum = XXH3_64bits of the sorted members joined by ";", each its
//     name, followed by "*" + decimal(points) if its weight is not 1.0.
//
// Layout: the circle is cut into 2^k segments by the top k bits of a hash
// (k chosen so a segment holds about 96-384 points; one segment below 384). A segment is an
// immutable, shared array of 12-byte points (hash, member slot) sorted by
// (hash, name), with a table of 128 entries indexed by the next 7 bits of
// a hash. A lookup reads the segment's address in the top table (4,096
// entries at 10,000 members: 32 KiB, in cache), one sub-table entry, then
// scans a few points: two cache misses, as with one flat array. A member is named
// in its points by a slot that stays its own while it is a member, so a
// change rewrites only the segments its points fall in: one member
// joining a 10,000-member ring copies ~100 of 4,096 segments, and the new
// snapshot shares the rest with the old one. Memory: 12 bytes per point
// plus at most ~4 for sub-tables, sentinels and segment headers
// (RingBuilder.LookupMemoryIsAtMost16BytesPerPoint).
//
// Thread safety: a Ring is immutable after construction; any number of
// threads may call its const methods at once. RingBuilder is not thread-safe:
// one owner (the node's io thread) uses it. Snapshots are handed to reader
// threads through RingPublisher (ring/publisher.h).
//
// Lifetimes: string_views returned by a Ring point into that Ring and stay
// valid while the caller holds the snapshot (its shared_ptr).

#ifndef SHOAL_RING_RING_H_
#define SHOAL_RING_RING_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shoal::ring {

// Points per member at weight 1.0 unless configured otherwise: the busiest
// member then owns about 1.3x the mean keyspace (docs/PERFORMANCE.md).
inline constexpr uint32_t kDefaultReplicaPoints = 100;
// A member may own at most this many points: keeps a typo in a weight from
// allocating gigabytes, and the total within 32-bit point indices.
inline constexpr uint32_t kMaxPointsPerMember = 1u << 20;

// XXH3_64bits(seed 0) of the key bytes: where a key sits on the ring.
uint64_t key_hash(std::string_view key);
// Where point `index` of `member` sits: XXH3_64bits of member#index.
uint64_t point_hash(std::string_view member, uint32_t index);
// Points a member of this weight gets; 0 if the weight is invalid (not
// finite, <= 0, or above kMaxPointsPerMember points).
uint32_t points_for_weight(uint32_t replica_points, double weight);

struct RingDiff;
struct ReplicaDiff;
class Ring;
RingDiff diff(const Ring& before, const Ring& after);                       // ring/diff.h
ReplicaDiff replica_diff(const Ring& before, const Ring& after, size_t n);  // ring/diff.h

class Ring {
 public:
  // An empty ring: every lookup finds no owner.
  explicit Ring(uint32_t replica_points = kDefaultReplicaPoints);

  // Not copyable or movable: owner views point into members_.
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // The owner of `key`, or an empty view if the ring has no members.
  std::string_view lookup(std::string_view key) const;
  // The owner of a precomputed key hash (key_hash(key)).
  std::string_view lookup_hash(uint64_t hash) const;

  // Writes the first min(out.size(), member_count()) distinct owners met
  // walking clockwise from `key` into `out`; returns how many it wrote.
  // Allocates nothing when out.size() <= 16.
  size_t lookup_n(std::string_view key, std::span<std::string_view> out) const;
  // The same from a precomputed key hash (key_hash(key)).
  size_t lookup_n_hash(uint64_t hash, std::span<std::string_view> out) const;
  // Convenience form: the first min(n, member_count()) distinct owners.
  std::vector<std::string_view> lookup_n(std::string_view key, size_t n) const;
  // Lookups that skip members: the first n distinct owners clockwise from
  // `key` that `accept` takes (fewer if fewer are accepted), e.g. to
  // place replicas in other zones, or skip members labelled some way.
  // `accept` sees each member's name at most once per call.
  std::vector<std::string_view> lookup_n_if(
      std::string_view key, size_t n,
      const std::function<bool(std::string_view member)>& accept) const;
  // The first owner `accept` takes, or an empty view if it takes none.
  std::string_view lookup_if(std::string_view key,
                             const std::function<bool(std::string_view member)>& accept) const;

  // XXH3_64bits of the sorted members joined by ";" (0 members: hash of
  // the empty string), each its name, and "*" + its point count if its
  // weight is not 1.0 (rings without weights: the names alone).
  uint64_t checksum() const { return checksum_; }

  size_t member_count() const { return members_.size(); }
  size_t point_count() const { return point_count_; }
  uint32_t replica_points() const { return replica_points_; }
  // Member names, sorted bytewise (views into this snapshot).
  std::span<const std::string_view> members() const { return members_; }
  bool contains(std::string_view member) const;
  // The weight of `member`, or 0 if it is not a member.
  double weight(std::string_view member) const;
  // Heap bytes held by the segments, their tables and the top table (the
  // per-point cost), counting shared segments in full.
  size_t lookup_memory_bytes() const;
  // How many of this ring's segments are the very ones `other` holds
  // (shared, not copied), and how many segments this ring has.
  size_t shared_segments(const Ring& other) const;
  size_t segment_count() const { return segments_.size(); }

 private:
  friend class RingBuilder;
  friend RingDiff diff(const Ring& before, const Ring& after);
  friend ReplicaDiff replica_diff(const Ring& before, const Ring& after, size_t n);

  // 12 bytes, unaligned: the memory target is <= 16 bytes per point
  // including the tables. x86-64 and arm64 load unaligned words at full
  // speed.
  struct __attribute__((packed)) Point {
    uint64_t hash;
    uint32_t slot;  // index into owner_ / names_ / weights_
  };
  static_assert(sizeof(Point) == 12);
  // A lookup compares the key with this many points at once, without
  // branches; each segment's points end with this many sentinels (hash
  // UINT64_MAX), so a window never runs off the end.
  static constexpr size_t kWindow = 4;

  // A segment: the points whose hashes share their top seg_bits_ bits,
  // in one allocation (with its reference count):
  //   uint32 count | uint32 unused | uint16 sub[kSubs] | Point[count + kWindow]
  // The points are sorted by (hash, name) and end with kWindow sentinels
  // (hash UINT64_MAX, slot kSentinel); sub[b] is the first point whose next
  // kSubBits bits are >= b (saturated at 65,535: a scan from there is still
  // right, only longer). Immutable; shared between snapshots.
  static constexpr uint32_t kSubBits = 7;
  static constexpr size_t kSubs = size_t{1} << kSubBits;
  static constexpr uint32_t kSentinel = UINT32_MAX;
  static constexpr size_t kPointsOffset = 8 + kSubs * sizeof(uint16_t);
  struct alignas(8) SegWord {
    std::byte bytes[8];
  };
  using SegmentPtr = std::shared_ptr<const SegWord[]>;
  static uint32_t seg_count(const std::byte* seg) {
    return *reinterpret_cast<const uint32_t*>(seg);
  }
  static const uint16_t* seg_sub(const std::byte* seg) {
    return reinterpret_cast<const uint16_t*>(seg + 8);
  }
  static const Point* seg_points(const std::byte* seg) {
    return reinterpret_cast<const Point*>(seg + kPointsOffset);
  }
  static size_t seg_bytes(uint32_t count) {
    return kPointsOffset + (count + kWindow) * sizeof(Point);
  }
  // A point's place: segment, index in it.
  struct Pos {
    size_t seg;
    size_t i;
  };

  // The first point with hash >= `hash`, wrapping round to the first
  // point. The ring must have points.
  Pos first_at_or_after(uint64_t hash) const;
  // The next point clockwise, wrapping. The ring must have points.
  void next(Pos& p) const;
  const Point& at(Pos p) const { return seg_points(top_[p.seg])[p.i]; }
  // The first and last points in hash order; the ring must have points.
  const Point& first_point() const;
  const Point& last_point() const;
  // Walks the points once in hash order, from the smallest.
  class Walk {
   public:
    explicit Walk(const Ring& r) : ring_(r) { skip_empty(); }
    bool done() const { return s_ == ring_.top_.size(); }
    const Point& operator*() const { return seg_points(ring_.top_[s_])[i_]; }
    const Point* operator->() const { return &**this; }
    void next() {
      if (++i_ < seg_count(ring_.top_[s_])) return;
      i_ = 0;
      ++s_;
      skip_empty();
    }
    // At the first point of a segment that `other`'s walk is at the first
    // point of too, and that both rings share: the same points.
    bool at_shared_segment(const Walk& other) const {
      return !done() && i_ == 0 && other.s_ == s_ && other.i_ == 0 &&
             ring_.segments_.size() == other.ring_.segments_.size() &&
             ring_.segments_[s_] == other.ring_.segments_[s_];
    }
    // Past the rest of this segment; returns its last point's hash.
    uint64_t skip_segment() {
      const uint64_t last = seg_points(ring_.top_[s_])[seg_count(ring_.top_[s_]) - 1].hash;
      i_ = 0;
      ++s_;
      skip_empty();
      return last;
    }

   private:
    void skip_empty() {
      while (s_ < ring_.top_.size() && seg_count(ring_.top_[s_]) == 0) ++s_;
    }
    const Ring& ring_;
    size_t s_ = 0;
    size_t i_ = 0;
  };
  int index_of(std::string_view member) const;  // position in members_; -1 if absent
  // A segment of these sorted points, for a ring of 2^seg_bits segments.
  static SegmentPtr make_segment(std::span<const Point> points, uint32_t seg_bits);
  // Top table, point count and checksum: after slots, members and
  // segments are set. Only the top entries of `touched` segments change if
  // `base` has as many segments (nullptr: all).
  void finish(const Ring* base = nullptr, std::span<const uint32_t> touched = {});

  uint32_t replica_points_;
  // Members by slot. A member keeps its slot while it stays; a free slot
  // has no name (and an empty owner_ view).
  std::vector<std::shared_ptr<const std::string>> names_;
  std::vector<std::string_view> owner_;    // slot -> name, for lookup
  std::vector<double> weights_;            // slot -> weight
  std::vector<std::string_view> members_;  // sorted, unique
  std::vector<uint32_t> member_slot_;      // parallel to members_
  uint32_t seg_bits_ = 0;
  std::vector<SegmentPtr> segments_;   // 2^seg_bits_
  std::vector<const std::byte*> top_;  // their bytes, for lookup
  size_t point_count_ = 0;
  uint64_t checksum_ = 0;
};

// Snapshots shared by content among the builders of one process: the
// simulator's thousands of node engines, whose rings agree once their
// members do. A builder given a cache first looks there for a snapshot
// with exactly the members (and weights) its next one would have, and
// takes it instead of building; else it builds and leaves the result
// there. Entries are weak: a snapshot lives while someone holds it.
// Not thread-safe: the builders that share a cache use it from one thread.
class RingCache {
 public:
  // A live snapshot with this checksum and replica_points, or null.
  std::shared_ptr<const Ring> find(uint64_t checksum, uint32_t replica_points) const;
  void insert(const std::shared_ptr<const Ring>& ring);
  size_t hits() const { return hits_; }
  void count_hit() { ++hits_; }

 private:
  std::unordered_multimap<uint64_t, std::weak_ptr<const Ring>> rings_;
  size_t inserts_since_prune_ = 0;
  size_t hits_ = 0;
};

// The checksum (Ring::checksum) of a ring whose sorted members are
// `names`, `weights[i]` being names[i]'s weight.
uint64_t ring_checksum(std::span<const std::string_view> names, std::span<const double> weights,
                       uint32_t replica_points);

// Applies batches of member changes to a snapshot, producing the next one.
// Unchanged members are not re-hashed: their points are merged, already
// sorted, with the newcomers' points.
class RingBuilder {
 public:
  explicit RingBuilder(uint32_t replica_points = kDefaultReplicaPoints);
  // Continues from an existing snapshot (not copied; shared).
  explicit RingBuilder(std::shared_ptr<const Ring> base);

  // Queue `member` to be present with `weight` in the next snapshot (adds
  // it, or changes its weight). Returns false, queuing nothing, if the
  // member is empty or the weight invalid (see points_for_weight).
  [[nodiscard]] bool add(std::string_view member, double weight = 1.0);
  // Queue `member` to be absent from the next snapshot. Removing a
  // non-member, or adding a member again at its weight, queues nothing.
  // The last add/remove of a member wins.
  void remove(std::string_view member);
  // True if changes are queued.
  bool pending() const { return !adds_.empty() || !removes_.empty(); }

  // Applies the queued changes and returns the new snapshot (the current one
  // if nothing is queued). The builder continues from the result.
  std::shared_ptr<const Ring> build();

  const std::shared_ptr<const Ring>& current() const { return current_; }
  // From now on build() shares snapshots through `cache` (null: none); it
  // must outlive the builder.
  void set_cache(RingCache* cache) { cache_ = cache; }

 private:
  // The snapshot in the cache equal to what build() would make, or null.
  std::shared_ptr<const Ring> cached_next() const;
  // build() in steps (ring_builder.cc).
  struct Plan {
    std::vector<std::pair<std::string_view, double>> gone;   // old members out (name, old weight)
    std::vector<bool> gone_slot;                             // by old slot
    std::vector<std::pair<std::string_view, double>> fresh;  // to hash, sorted by name
    std::vector<uint32_t> fresh_slot;                        // their slots
    size_t gone_points = 0;
  };
  Plan plan_members(const Ring& old, Ring& next) const;
  static std::vector<Ring::Point> hash_fresh(const Plan& plan, const Ring& next);
  static constexpr size_t kRadixSortMin = 4096;  // points; below: std::sort
  static void radix_sort_by_hash(std::vector<Ring::Point>& points);
  // The segments of `next`: only those the change touches are made anew
  // when the segment count stays, else all of them.
  static void merge_into(std::span<const Ring::Point> old, const std::vector<bool>& gone_slot,
                         std::span<const Ring::Point> added,
                         std::span<const std::string_view> owner, std::vector<Ring::Point>& out);
  // patch_segments returns the segments it made anew.
  static std::vector<uint32_t> patch_segments(const Ring& old, const Plan& plan,
                                              const std::vector<Ring::Point>& added, Ring& next);
  static void rebuild_segments(const Ring& old, const Plan& plan,
                               const std::vector<Ring::Point>& added, Ring& next);

  std::shared_ptr<const Ring> current_;
  RingCache* cache_ = nullptr;
  std::map<std::string, double, std::less<>> adds_;
  std::set<std::string, std::less<>> removes_;
};

}  // namespace shoal::ring

#endif  // SHOAL_RING_RING_H_
