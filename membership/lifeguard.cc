// Copyright shoal authors. Lifeguard's suspicion math (lifeguard.h): the
// timeout that shrinks with independent confirmations, this node's timeout
// scaled by cluster size and health score, and the confirmations
// themselves. A confirmation only ever brings a suspicion's verdict closer;
// each suspecter counts once.

#include "shoal/membership/lifeguard.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>

#include "shoal/membership/membership.h"

namespace shoal::membership {

Duration suspicion_timeout(int confirmations, int expected, Duration min, Duration max) {
  if (expected <= 0 || confirmations >= expected) return min;
  const double frac = std::log(static_cast<double>(std::max(0, confirmations)) + 1.0) /
                      std::log(static_cast<double>(expected) + 1.0);
  const auto span = static_cast<double>((max - min).count());
  Duration t = max - Duration(static_cast<int64_t>(frac * span));
  t = std::chrono::floor<milliseconds>(t);
  return std::max(t, min);
}

Duration Membership::suspicion_timeout_for(int confirmations) const {
  // Past 100 members both bounds grow with log10(N) / 2 (see config.h);
  // an unhealthy node (high score) is slower to condemn (Lifeguard).
  const auto scaled = [n = pingable_count_](Duration d) -> Duration {
    if (n <= 100) return d;
    const double f = std::log10(static_cast<double>(n)) / 2.0;
    return std::chrono::floor<milliseconds>(
        Duration(static_cast<Duration::rep>(static_cast<double>(d.count()) * f)));
  };
  return awareness_.scale(suspicion_timeout(confirmations, expected_confirmations(),
                                            scaled(config_.suspicion_min),
                                            scaled(config_.suspicion_max)));
}

int Membership::expected_confirmations() const {
  // Only members other than the suspect and the first accuser can confirm:
  // in a cluster of 3, at most one. Expecting more than can come would keep
  // every suspicion at the maximum (memberlist makes the same cut).
  const int others = static_cast<int>(pingable_count_) - 2;
  return std::max(0, std::min(config_.suspicion_confirmations, others));
}

void Membership::confirm_suspicion(Member& m, const std::string& source, Instant now) {
  if (std::find(m.suspecters.begin(), m.suspecters.end(), source) != m.suspecters.end()) return;
  if (m.suspecters.size() > static_cast<size_t>(config_.suspicion_confirmations)) return;
  m.suspecters.push_back(source);
  ++stats_.confirmations;
  const int confirmations = static_cast<int>(m.suspecters.size()) - 1;
  const Instant deadline = m.suspect_start + suspicion_timeout_for(confirmations);
  // A confirmation only ever brings the verdict closer.
  set_deadline(m, std::min(m.deadline, std::max(deadline, now)));
  // Re-gossip the confirmation so that others count it too.
  enqueue(change_of(m, source));
}

}  // namespace shoal::membership
