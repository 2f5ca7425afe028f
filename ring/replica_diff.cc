// Copyright shoal authors. replica_diff (diff.h): which key ranges gained
// or lost which member among their first n owners.

#include <algorithm>
#include <string_view>
#include <vector>

#include "shoal/ring/diff.h"

namespace shoal::ring {
namespace {

using Views = std::vector<std::string_view>;

// `x` minus `y`, both sorted.
void minus(const Views& x, size_t nx, const Views& y, size_t ny, Views& out) {
  out.clear();
  std::set_difference(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(nx), y.begin(),
                      y.begin() + static_cast<std::ptrdiff_t>(ny), std::back_inserter(out));
}

std::vector<std::string> strings(const Views& v) { return {v.begin(), v.end()}; }

// Adjacent stretches with the same gained and lost members become one move.
class Runs {
 public:
  explicit Runs(ReplicaDiff& d) : d_(d) {}
  void add(uint64_t prev, uint64_t u, const Views& gained, const Views& lost) {
    if (gained.empty() && lost.empty()) return close();
    if (open_ && gained == gained_ && lost == lost_) {
      range_.last = u;
      return;
    }
    close();
    open_ = true;
    range_ = {prev, u};
    gained_ = gained;
    lost_ = lost;
  }
  void close() {
    if (!open_) return;
    d_.moves.push_back({range_, strings(gained_), strings(lost_)});
    open_ = false;
  }

 private:
  ReplicaDiff& d_;
  bool open_ = false;
  KeyRange range_;
  Views gained_, lost_;
};

}  // namespace

ReplicaDiff replica_diff(const Ring& before, const Ring& after, size_t n) {
  ReplicaDiff d;
  d.n = n;
  const size_t na = before.point_count_, nb = after.point_count_;
  if (n == 0 || (na == 0 && nb == 0)) return d;
  // As in diff(): the stretch (prev, u] of keys meets, in each ring, its
  // first point at or after u, and so walks from there to its n owners.
  uint64_t prev = std::max(na ? before.last_point().hash : 0, nb ? after.last_point().hash : 0);
  Views ra(n), rb(n), gained, lost;
  Runs runs(d);
  Ring::Walk a(before);
  Ring::Walk b(after);
  while (!a.done() || !b.done()) {
    const uint64_t u = (b.done() || (!a.done() && a->hash <= b->hash)) ? a->hash : b->hash;
    const size_t ka = before.lookup_n_hash(u, ra);
    const size_t kb = after.lookup_n_hash(u, rb);
    std::sort(ra.begin(), ra.begin() + static_cast<std::ptrdiff_t>(ka));
    std::sort(rb.begin(), rb.begin() + static_cast<std::ptrdiff_t>(kb));
    minus(rb, kb, ra, ka, gained);
    minus(ra, ka, rb, kb, lost);
    runs.add(prev, u, gained, lost);
    prev = u;
    while (!a.done() && a->hash == u) a.next();
    while (!b.done() && b->hash == u) b.next();
  }
  runs.close();
  // The last move may continue into the first across the wrap.
  if (d.moves.size() > 1) {
    ReplicaMove& first = d.moves.front();
    const ReplicaMove& last = d.moves.back();
    if (last.range.last == first.range.after && last.gained == first.gained &&
        last.lost == first.lost) {
      first.range.after = last.range.after;
      d.moves.pop_back();
    }
  }
  return d;
}

std::vector<KeyRange> ReplicaDiff::gained(std::string_view member) const {
  std::vector<KeyRange> out;
  for (const ReplicaMove& m : moves) {
    if (std::binary_search(m.gained.begin(), m.gained.end(), member)) out.push_back(m.range);
  }
  return out;
}

std::vector<KeyRange> ReplicaDiff::lost(std::string_view member) const {
  std::vector<KeyRange> out;
  for (const ReplicaMove& m : moves) {
    if (std::binary_search(m.lost.begin(), m.lost.end(), member)) out.push_back(m.range);
  }
  return out;
}

const ReplicaMove* ReplicaDiff::find(uint64_t h) const {
  // Moves are in clockwise order of range.last: the one holding h is the
  // first that ends at or after it, or the first move, which may wrap.
  auto it = std::lower_bound(moves.begin(), moves.end(), h,
                             [](const ReplicaMove& m, uint64_t v) { return m.range.last < v; });
  for (auto candidate : {it, moves.begin()}) {
    if (candidate != moves.end() && candidate->range.contains(h)) return &*candidate;
  }
  return nullptr;
}

}  // namespace shoal::ring
