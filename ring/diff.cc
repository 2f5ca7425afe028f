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
  const auto& am = before.members_;
  const auto& bm = after.members_;
  // before's slot -> after's (kNone: gone), by one merge of the sorted
  // member lists, so that owners compare as integers below.
  std::vector<uint32_t> same(before.owner_.size(), kNone);
  size_t x = 0;
  size_t y = 0;
  while (x < am.size() || y < bm.size()) {
    const int c = x == am.size() ? 1 : y == bm.size() ? -1 : am[x].compare(bm[y]);
    if (c == 0) same[before.member_slot_[x]] = after.member_slot_[y];
    if (c < 0) d.removed.emplace_back(am[x]);
    if (c > 0) d.added.emplace_back(bm[y]);
    x += c <= 0;
    y += c >= 0;
  }
  const size_t na = before.point_count_, nb = after.point_count_;
  if (na == 0 && nb == 0) return d;

  // Walk the union of both rings' point hashes clockwise. The segment
  // (prev, u] of keys is owned, in each ring, by its first point at or
  // after u (past its last point: its first point). A segment starts the
  // walk at (largest hash, smallest hash]: the wrap.
  uint64_t prev = std::max(na ? before.last_point().hash : 0, nb ? after.last_point().hash : 0);
  // The move being gathered: adjacent segments of one (from, to) merge.
  uint32_t run_from = kNone, run_to = kNone;
  bool in_run = false;
  KeyRange run;
  auto close_run = [&] {
    if (!in_run) return;
    d.moves.push_back({run,
                       run_from == kNone ? std::string() : std::string(before.owner_[run_from]),
                       run_to == kNone ? std::string() : std::string(after.owner_[run_to])});
    in_run = false;
  };
  Ring::Walk a(before);
  Ring::Walk b(after);
  while (!a.done() || !b.done()) {
    if (a.at_shared_segment(b)) {
      // The same points in both rings: every key there keeps its owner.
      close_run();
      prev = a.skip_segment();
      b.skip_segment();
      continue;
    }
    const uint64_t u = (b.done() || (!a.done() && a->hash <= b->hash)) ? a->hash : b->hash;
    const uint32_t oa = na == 0 ? kNone : (a.done() ? before.first_point() : *a).slot;
    const uint32_t ob = nb == 0 ? kNone : (b.done() ? after.first_point() : *b).slot;
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
    while (!a.done() && a->hash == u) a.next();
    while (!b.done() && b->hash == u) b.next();
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
