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
// Layout: one sorted flat array of 12-byte points (hash, member index) plus
// a bucket table indexed by the top k bits of a hash (k = floor(log2(points)),
// so about one point per bucket). A lookup reads one bucket entry, then scans
// the few points of that bucket: two cache lines instead of the ~17 dependent
// loads of a binary search over 100,000 points. Memory: 12 bytes per point
// plus at most 4 bytes per point for buckets.
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
  // Member names, sorted bytewise.
  std::span<const std::string> members() const { return members_; }
  bool contains(std::string_view member) const;
  // The weight of `member`, or 0 if it is not a member.
  double weight(std::string_view member) const;
  // Heap bytes held by the point array and bucket table (the per-point cost).
  size_t lookup_memory_bytes() const;

 private:
  friend class RingBuilder;
  friend RingDiff diff(const Ring& before, const Ring& after);
  friend ReplicaDiff replica_diff(const Ring& before, const Ring& after, size_t n);

  // 12 bytes, unaligned: the memory target is <= 16 bytes per point
  // including the bucket table. x86-64 and arm64 load unaligned words at
  // full speed.
  struct __attribute__((packed)) Point {
    uint64_t hash;
    uint32_t member;  // index into members_ / owner_
  };
  static_assert(sizeof(Point) == 12);
  // A lookup compares the key with this many points at once, without
  // branches; the array ends with this many sentinels (hash UINT64_MAX,
  // owner of the first point), so a window never runs off the end and a key
  // past the last point finds the first point's owner: the wrap-around.
  static constexpr size_t kWindow = 4;

  // Index of the first point with hash >= `hash`, or point_count_ if none.
  size_t first_point_at_or_after(uint64_t hash) const;
  int index_of(std::string_view member) const;  // -1 if absent
  // Allocates `count` real points plus sentinels, and the bucket table for
  // that many points. Whoever fills point i (sorted order) also records
  // ends[(hash >> bucket_shift_) + 1] = i + 1 (see finish()).
  uint32_t* allocate_points(size_t count);
  // Sentinels, bucket table, owner views, checksum: after points are set.
  void finish();

  uint32_t replica_points_;
  std::vector<std::string> members_;     // sorted, unique
  std::vector<double> weights_;          // parallel to members_
  std::vector<std::string_view> owner_;  // views of members_, for lookup
  std::unique_ptr<Point[]> points_;      // sorted by (hash, member), + sentinels
  size_t point_count_ = 0;               // real points, without sentinels
  std::vector<uint32_t> buckets_;        // first point with hash >= b << shift_
  uint32_t bucket_shift_ = 63;
  uint64_t checksum_ = 0;
};

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

 private:
  // build() in three steps (ring.cc).
  struct Plan {
    std::vector<std::pair<std::string_view, double>> fresh;  // to hash, sorted
    std::vector<uint32_t> fresh_index;                       // their new indices
    std::vector<uint32_t> remap;                             // old index -> new
    std::vector<bool> keep;                                  // old member stays as is
  };
  Plan plan_members(const Ring& old, Ring& next) const;
  static std::vector<Ring::Point> hash_fresh(const Plan& plan, uint32_t replica_points);
  static constexpr size_t kRadixSortMin = 4096;  // points; below: std::sort
  static void radix_sort_by_hash(std::vector<Ring::Point>& points);
  static void merge_points(const Ring& old, const Plan& plan, const std::vector<Ring::Point>& added,
                           Ring& next);

  std::shared_ptr<const Ring> current_;
  std::map<std::string, double, std::less<>> adds_;
  std::set<std::string, std::less<>> removes_;
};

}  // namespace shoal::ring

#endif  // SHOAL_RING_RING_H_
