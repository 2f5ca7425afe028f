// shoal-sim: run one simulator scenario and print its figures.
//
//   shoal-sim --scenario NAME --nodes N [--seed S] [--loss P] [--seconds T] [--json]
//             [--full-rings]
//
// Exit status: 0 if the scenario's success condition held, 1 if not, 2 for
// bad arguments. The same seed gives the same run: a failing seed printed
// by scripts/sim-sweep.sh replays with this command.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "tests/sim/scenarios.h"

int main(int argc, char** argv) {
  shoal::sim::ScenarioOptions o;
  bool json = false;
  CLI::App app{"shoal-sim: the SWIM membership protocol in virtual time"};
  std::string names;
  for (const auto& n : shoal::sim::scenario_names()) names += (names.empty() ? "" : ", ") + n;
  app.add_option("--scenario", o.name, "one of: " + names)->required();
  app.add_option("--nodes", o.nodes, "cluster size")
      ->check(CLI::Range(4, 20000))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "run seed (same seed, same run)")->capture_default_str();
  app.add_option("--loss", o.loss, "uniform datagram loss probability, for accuracy")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "length of the measured phase (0: scenario default)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_flag("--json", json, "print one JSON object");
  app.add_flag("--full-rings", o.full_rings,
               "every node builds its ring's points (default: the checksum only where nothing "
               "looks a key up; forward-churn always builds)");
  // Anti-entropy timers, to compare settings (defaults: membership/config.h).
  int64_t sync_mismatch_ms = -1, sync_interval_ms = -1;
  app.add_option("--sync-mismatch-min-ms", sync_mismatch_ms, "checksum disagreement before a sync")
      ->check(CLI::Range(int64_t{0}, int64_t{86400000}));
  app.add_option("--sync-interval-min-ms", sync_interval_ms, "at most one full sync per")
      ->check(CLI::Range(int64_t{1}, int64_t{86400000}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (sync_mismatch_ms >= 0)
    o.config.sync_mismatch_min = std::chrono::milliseconds(sync_mismatch_ms);
  if (sync_interval_ms > 0)
    o.config.sync_interval_min = std::chrono::milliseconds(sync_interval_ms);
  shoal::membership::Config check = o.config;
  check.address = "sim:0";  // the simulator assigns each node its own
  if (auto err = check.validate(); !err.empty()) {
    std::fprintf(stderr, "shoal-sim: config: %s\n", err.c_str());
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  auto r = shoal::sim::run_scenario(o);
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (r.error == "unknown scenario") {
    std::fprintf(stderr, "shoal-sim: unknown scenario '%s' (one of: %s)\n", o.name.c_str(),
                 names.c_str());
    return 2;
  }
  if (json) {
    std::printf("%s\n", r.to_json().c_str());
  } else {
    std::printf("%s\n", r.to_json().c_str());
    if (!r.ok)
      std::fprintf(stderr, "shoal-sim: FAILED: %s (replay: --seed %llu)\n", r.error.c_str(),
                   static_cast<unsigned long long>(o.seed));
  }
  return r.ok ? 0 : 1;
}
