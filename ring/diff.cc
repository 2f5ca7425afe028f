// Copyright shoal authors. See diff.h.

#include "shoal/ring/diff.h"

#include <algorithm>
#include <limits>

namespace shoal::ring {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

}  // namespace

RingDiff diff(const Ring& before, const Ring& after) {
  RingDiff d;
  const std::vector<std::string>& am = before.members_;
  const std::vector<std::string>& bm = after.members_;
  std::set_difference(bm.begin(), bm.end(), am.begin(), am.end(), std::back_inserter(d.added));
  std::set_difference(am.begin(), am.end(), bm.begin(), bm.end(), std::back_inserter(d.removed));
  // before's member index -> after's (kNone: gone), by one merge of the
  // sorted member lists, so that owners compare as integers below.
  std::vector<uint32_t> same(am.size(), kNone);
  for (size_t x = 0, y = 0; x < am.size() && y < bm.size();) {
    const int c = am[x].compare(bm[y]);
    if (c == 0) same[x] = static_cast<uint32_t>(y);
    x += c <= 0;
    y += c >= 0;
  }
  const size_t na = before.point_count_, nb = after.point_count_;
  if (na == 0 && nb == 0) return d;
  const Ring::Point* A = before.points_.get();
  const Ring::Point* B = after.points_.get();

  // Walk the union of both rings' point hashes clockwise. The segment
  // (prev, u] of keys is owned, in each ring, by its first point at or
  // after u (past its last point: its first point). A segment starts the
  // walk at (largest hash, smallest hash]: the wrap.
  uint64_t prev = std::max(na ? A[na - 1].hash : 0, nb ? B[nb - 1].hash : 0);
  // The move being gathered: adjacent segments of one (from, to) merge.
  uint32_t run_from = kNone, run_to = kNone;
  bool in_run = false;
  KeyRange run;
  auto close_run = [&] {
    if (!in_run) return;
    d.moves.push_back({run, run_from == kNone ? std::string() : am[run_from],
                       run_to == kNone ? std::string() : bm[run_to]});
    in_run = false;
  };
  size_t i = 0, j = 0;
  while (i < na || j < nb) {
    const uint64_t u = (j >= nb || (i < na && A[i].hash <= B[j].hash)) ? A[i].hash : B[j].hash;
    const uint32_t oa = na == 0 ? kNone : (i < na ? A[i] : A[0]).member;
    const uint32_t ob = nb == 0 ? kNone : (j < nb ? B[j] : B[0]).member;
    const bool moved = (oa == kNone) != (ob == kNone) || (oa != kNone && same[oa] != ob);
    if (moved) {
      if (in_run && run_from == oa && run_to == ob) {
        run.last = u;
      } else {
        close_run();
        in_run = true;
        run_from = oa;
        run_to = ob;
        run = {prev, u};
      }
    } else {
      close_run();
    }
    prev = u;
    while (i < na && A[i].hash == u) ++i;
    while (j < nb && B[j].hash == u) ++j;
  }
  close_run();
  // The last move may continue into the first across the wrap.
  if (d.moves.size() > 1) {
    KeyMove& first = d.moves.front();
    const KeyMove& last = d.moves.back();
    if (last.range.last == first.range.after && last.from == first.from && last.to == first.to) {
      first.range.after = last.range.after;
      d.moves.pop_back();
    }
  }
  return d;
}

std::vector<KeyRange> RingDiff::gained(std::string_view member) const {
  std::vector<KeyRange> out;
  for (const KeyMove& m : moves) {
    if (m.to == member) out.push_back(m.range);
  }
  return out;
}

std::vector<KeyRange> RingDiff::lost(std::string_view member) const {
  std::vector<KeyRange> out;
  for (const KeyMove& m : moves) {
    if (m.from == member) out.push_back(m.range);
  }
  return out;
}

}  // namespace shoal::ring
