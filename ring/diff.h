// Copyright shoal authors. What changed between two ring snapshots: the
// members added and removed, and which key ranges moved from whom to whom
// (ringpop-go's RingChangedEvent, plus the ranges an app hands off).
//
// A key range is a stretch of the 64-bit hash circle: the keys whose
// key_hash h satisfies after < h <= last, going clockwise and wrapping past
// 2^64-1 when after >= last (after == last: the whole circle). A key moved
// if its owner in `before` differs from its owner in `after`; the moves
// cover exactly those keys, each once, with adjacent ranges of the same
// (from, to) merged.
//
//   before:  ---a----b-------a----
//   after:   ---a--c-b-------a----   c joined: (a's point, c's point]
//                                    moved from b to c
//
// Cost: one merge walk over both rings' points, O(points): about 0.3 ms
// for two 1000-member rings of 100 points each (docs/PERFORMANCE.md).
//
// Pure: no I/O, no locks; both rings must stay alive during the call only
// (the result holds copies of member names).

#ifndef SHOAL_RING_DIFF_H_
#define SHOAL_RING_DIFF_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/ring/ring.h"

namespace shoal::ring {

struct KeyRange {
  uint64_t after = 0;  // exclusive
  uint64_t last = 0;   // inclusive
  // Whether a key of hash `h` lies in the range.
  bool contains(uint64_t h) const {
    if (after < last) return h > after && h <= last;
    return h > after || h <= last;  // wraps (or, after == last, everything)
  }
  bool operator==(const KeyRange&) const = default;
};

struct KeyMove {
  KeyRange range;
  std::string from;  // owner before ("" if the ring was empty)
  std::string to;    // owner after ("" if the ring is empty now)
  bool operator==(const KeyMove&) const = default;
};

struct RingDiff {
  std::vector<std::string> added;    // members of `after` only, sorted
  std::vector<std::string> removed;  // members of `before` only, sorted
  std::vector<KeyMove> moves;        // in clockwise order of range.last

  bool empty() const { return added.empty() && removed.empty() && moves.empty(); }
  // The ranges `member` owns after and did not own before (to hand over
  // to it), and the ones it owned before and no longer does.
  std::vector<KeyRange> gained(std::string_view member) const;
  std::vector<KeyRange> lost(std::string_view member) const;
};

RingDiff diff(const Ring& before, const Ring& after);

// Replica sets: for a replica count n, which key ranges gained or lost
// which member among their first n owners (Ring::lookup_n), so that an
// app keeping n copies hands off only what moved. A range is listed if its
// n owners in `after` differ from those in `before` (as a set: a reorder
// among the same members is no move); adjacent ranges with the same
// gained and lost members are merged. n = 1 gives the same ranges as
// diff().moves.
//
// Cost: two lookup_n walks per stretch between consecutive points of the
// union of both rings: 7.8 ms for two 1000-member rings (100 points each)
// that differ by one member at n = 3, 0.8 ms at 100 (docs/PERFORMANCE.md);
// computed when asked, as diff() is.
struct ReplicaMove {
  KeyRange range;
  std::vector<std::string> gained;  // among the n owners after, not before; sorted
  std::vector<std::string> lost;    // among the n owners before, not after; sorted
  bool operator==(const ReplicaMove&) const = default;
};

struct ReplicaDiff {
  size_t n = 0;
  std::vector<ReplicaMove> moves;  // in clockwise order of range.last

  bool empty() const { return moves.empty(); }
  // The ranges whose replica set `member` joined (to hand it their keys),
  // and the ones whose replica set it left.
  std::vector<KeyRange> gained(std::string_view member) const;
  std::vector<KeyRange> lost(std::string_view member) const;
  // The move whose range holds key hash `h`, or null if its keys did not
  // move (binary search: O(log moves)).
  const ReplicaMove* find(uint64_t h) const;
};

ReplicaDiff replica_diff(const Ring& before, const Ring& after, size_t n);

}  // namespace shoal::ring

#endif  // SHOAL_RING_DIFF_H_
