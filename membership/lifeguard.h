// Copyright shoal authors. Lifeguard's two pure pieces of math: the
// suspicion timeout that shrinks with confirmations, and the local health
// score that stretches this node's own probe timing. Pure functions and a
// value type, tested table-driven in tests/membership.

#ifndef SHOAL_MEMBERSHIP_LIFEGUARD_H_
#define SHOAL_MEMBERSHIP_LIFEGUARD_H_

#include <algorithm>

#include "shoal/membership/types.h"

namespace shoal::membership {

// How long a suspicion lasts, from its start, given `confirmations`
// independent confirmations (suspecters other than the first):
//   max(min, max - (max - min) * log(C + 1) / log(K + 1)),  K = expected.
// C = 0 gives max; C >= K gives min. Rounded down to whole milliseconds.
Duration suspicion_timeout(int confirmations, int expected, Duration min, Duration max);

// Lifeguard local health awareness: a score in [0, max - 1]. Timeouts of
// this node's own probes are multiplied by (score + 1), so a node that is
// itself slow or cut off (it misses nacks, it gets suspected) probes more
// patiently instead of accusing healthy peers.
class Awareness {
 public:
  explicit Awareness(int max) : max_(std::max(1, max)) {}
  void apply(int delta) { score_ = std::clamp(score_ + delta, 0, max_ - 1); }
  int score() const { return score_; }
  Duration scale(Duration d) const { return d * (score_ + 1); }

 private:
  int max_;
  int score_ = 0;
};

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_LIFEGUARD_H_
