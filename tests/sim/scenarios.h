// Copyright shoal authors. Named simulator scenarios (docs/PERFORMANCE.md
// records their figures). Each returns measured values; the tests in
// sim_test.cc and the shoal-sim binary decide what to assert or print.

#ifndef SHOAL_TESTS_SIM_SCENARIOS_H_
#define SHOAL_TESTS_SIM_SCENARIOS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shoal/membership/config.h"

namespace shoal::sim {

struct ScenarioOptions {
  std::string name;
  int nodes = 100;
  uint64_t seed = 1;
  double loss = 0.0;
  // Length of the measured phase, where the scenario has one (accuracy,
  // bandwidth, slow-node); 0 = the scenario's default.
  double seconds = 0;
  membership::Config config;  // protocol parameters (defaults if untouched)
  // Every node builds its ring (its points). Without, scenarios where
  // nothing looks a key up keep each ring's checksum only
  // (Simulator::set_ring_checksum_only); forward-churn always builds.
  bool full_rings = false;
};

struct ScenarioResult {
  std::string scenario;
  int nodes = 0;
  uint64_t seed = 0;
  double loss = 0;
  bool ok = true;     // the scenario's own success condition held
  std::string error;  // why not
  bool converged = false;
  // All live nodes' ring checksums equal at the end (null unless converged).
  std::optional<bool> rings_agree;
  std::optional<double> converge_s;
  std::optional<double> first_detect_s;
  std::optional<double> all_detect_s;
  std::optional<double> periods;  // dissemination: time to reach all / period
  uint64_t false_faulty = 0;
  uint64_t false_suspect = 0;
  std::optional<double> bytes_per_node_s;
  // bandwidth: join and sync frames (TCP), both ways, per node and second.
  std::optional<double> tcp_bytes_per_node_s;
  // Forwarding (forward-churn): requests sent; how each ended, by result
  // name (ok, timeout, ...); requests that never ended (lost) or ended more
  // than once (duplicates); requests whose sender crashed before they
  // ended (a crashed caller gets nothing, as with kill -9).
  uint64_t requests = 0;
  std::map<std::string, uint64_t> outcomes;
  uint64_t lost = 0;
  uint64_t duplicates = 0;
  uint64_t sender_crashed = 0;
  // App gossip (broadcast, event-storm, query): the members alive at the
  // end that should have delivered (answered), how many did, how many
  // delivered more than once or answered unasked (duplicates, above).
  std::optional<uint64_t> alive;
  std::optional<uint64_t> delivered;
  std::optional<uint64_t> wrong;
  // App bytes (app_bytes_sent) the running nodes sent in the scenario,
  // per node.
  std::optional<double> app_bytes_per_node;
  double sim_s = 0;
  double wall_s = 0;  // set by the caller
  std::string to_json() const;
};

// Names accepted by run_scenario.
std::vector<std::string> scenario_names();
// Runs a scenario; an unknown name yields ok = false with an error.
ScenarioResult run_scenario(const ScenarioOptions& options);

}  // namespace shoal::sim

#endif  // SHOAL_TESTS_SIM_SCENARIOS_H_
