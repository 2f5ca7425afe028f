// Copyright shoal authors. What every simulator scenario shares: a
// running cluster under test and its bookkeeping (scenarios.cc,
// app_scenarios.cc).

#ifndef SHOAL_TESTS_SIM_SCENARIO_RUN_H_
#define SHOAL_TESTS_SIM_SCENARIO_RUN_H_

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "tests/sim/scenarios.h"
#include "tests/sim/sim.h"

namespace shoal::sim {

using membership::Instant;
using membership::Status;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline double to_s(Duration d) { return std::chrono::duration<double>(d).count(); }

// A running cluster under test, with the bookkeeping every scenario needs.
struct Run {
  Simulator sim;
  ScenarioResult result;
  std::vector<std::string> seeds;

  explicit Run(const ScenarioOptions& o) : sim(o.seed, NetworkOptions{}, o.config) {
    sim.set_ring_checksum_only(!o.full_rings);
    result.scenario = o.name;
    result.nodes = o.nodes;
    result.seed = o.seed;
    result.loss = o.loss;
  }

  // Starts n nodes one millisecond apart, all joining through the first
  // three. Returns when the last has started.
  void cold_start(int n) {
    for (int i = 0; i < n; ++i) sim.add_node();
    for (int i = 0; i < std::min(n, 3); ++i) seeds.push_back(sim.address(i));
    for (int i = 0; i < n; ++i) {
      sim.run_until(Instant(milliseconds(i)));
      sim.start(i, seeds);
    }
  }

  bool wait_converged(Duration max) {
    return sim.run_until([&] { return sim.converged(); }, sim.now() + max);
  }

  int running_count() const {
    int c = 0;
    for (size_t i = 0; i < sim.size(); ++i) c += sim.running(static_cast<int>(i));
    return c;
  }

  ScenarioResult& fail(const std::string& why) {
    result.ok = false;
    if (result.error.empty()) result.error = why;
    return result;
  }

  ScenarioResult& finish() {
    if (result.converged) {
      // Rings follow membership after the publication delay (at most 2 ms
      // per member, 2 s).
      result.rings_agree =
          sim.run_until([&] { return sim.rings_agree(); }, sim.now() + seconds(10));
      if (!*result.rings_agree) fail("rings disagree 10 s after convergence");
    }
    result.sim_s = sim.seconds();
    result.false_faulty = sim.stats().false_faulty;
    result.false_suspect = sim.stats().false_suspect;
    if (sim.stats().datagrams_oversize != 0) fail("datagrams over the budget");
    if (sim.stats().decode_errors != 0) fail("messages that did not decode");
    if (sim.stats().incarnation_regressions != 0) fail("a view went back to a lower incarnation");
    return result;
  }

  // `changes` crashes and as many joins at random times over the next 60 s,
  // in time order: (when, +1 join / -1 crash).
  std::vector<std::pair<Instant, int>> churn_plan(membership::Rng& rng, int changes) const {
    std::vector<std::pair<Instant, int>> plan;
    const Instant t0 = sim.now();
    for (int c = 0; c < changes; ++c) {
      plan.emplace_back(t0 + milliseconds(rng.below(60000)), -1);
      plan.emplace_back(t0 + milliseconds(rng.below(60000)), +1);
    }
    std::sort(plan.begin(), plan.end());
    return plan;
  }

  // One planned change: a new node joins, or a random running node crashes.
  void apply_change(membership::Rng& rng, int what) {
    if (what > 0) {
      sim.start(sim.add_node(), seeds);
      return;
    }
    for (int tries = 0; tries < 1000; ++tries) {
      const int v = static_cast<int>(rng.below(sim.size()));
      if (sim.running(v)) return sim.crash(v);
    }
  }

  // Cold start + convergence, the prelude of most scenarios.
  bool converged_cluster(int n) {
    cold_start(n);
    const Instant last_start = sim.now();
    if (!wait_converged(seconds(60))) {
      fail("cluster did not converge within 60 s of the last start");
      return false;
    }
    result.converge_s = to_s(sim.now() - last_start);
    result.converged = true;
    return true;
  }
};

// App gossip scenarios (app_scenarios.cc).
ScenarioResult app_broadcast(const ScenarioOptions& o);
ScenarioResult app_event_storm(const ScenarioOptions& o);
ScenarioResult app_query(const ScenarioOptions& o);

}  // namespace shoal::sim

#endif  // SHOAL_TESTS_SIM_SCENARIO_RUN_H_
