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

}  // namespace shoal::ring

#endif  // SHOAL_RING_DIFF_H_
