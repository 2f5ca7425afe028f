// Fresh news is never starved (issue 25, item 5): with thousands of
// invented members flooding every node's table and piggyback queue (alive
// claims forged by a stranger, no keyring), a newcomer's own alive claim
// and a refutation still reach every member within a few periods.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/sim/sim.h"

namespace shoal::sim {
namespace {

using membership::Status;
using std::chrono::milliseconds;
using std::chrono::seconds;

double secs(Duration d) { return std::chrono::duration<double>(d).count(); }

struct Flood {
  int datagrams = 2900;
  int claims_per_datagram = 24;
};

// The outside attack, in the simulator: `f.datagrams` gossip datagrams from
// one stranger's address, one a millisecond, to the nodes in turn, each
// claiming `claims_per_datagram` invented members alive.
void flood(Simulator& sim, int nodes, const Flood& f) {
  const std::string attacker = "10.66.0.1:7946";
  int invented = 0;
  for (int d = 0; d < f.datagrams; ++d) {
    membership::Gossip g{attacker, 0, {}};
    for (int c = 0; c < f.claims_per_datagram; ++c, ++invented) {
      const std::string name = "10.77." + std::to_string(invented / 250) + "." +
                               std::to_string(invented % 250) + ":7000";
      g.changes.push_back({name, Status::kAlive, 1, {}, name, 1});
    }
    sim.inject_from_outside(attacker, d % nodes, g);
    sim.run_for(milliseconds(1));
  }
}

void expect_fresh_news_spreads(int nodes, uint64_t seed, const Flood& attack, double bound_s) {
  Simulator sim(seed, NetworkOptions{}, membership::Config{});
  std::vector<std::string> seeds;
  for (int i = 0; i <= nodes; ++i) sim.add_node();
  for (int i = 0; i < 3; ++i) seeds.push_back(sim.address(i));
  for (int i = 0; i < nodes; ++i) sim.start(i, seeds);
  ASSERT_TRUE(sim.run_until([&] { return sim.converged(); }, sim.now() + seconds(30)));

  // As a running cluster: every member has heard from the others.
  sim.run_for(seconds(5));
  flood(sim, nodes, attack);
  size_t table = 0;
  for (int i = 0; i < nodes; ++i) table = std::max(table, sim.node(i).members().size());

  // A newcomer starts, and node 1 hears a false suspicion about node 2.
  const Instant t0 = sim.now();
  sim.start(nodes, seeds);
  const auto inc2 = sim.node(2).incarnation();
  membership::Gossip g{sim.address(0), 0, {}};
  g.changes.push_back({sim.address(2), Status::kSuspect, inc2, {}, sim.address(0), 0});
  sim.inject(sim.address(0), 1, g);

  std::optional<Duration> joined, refuted;
  sim.run_until(
      [&] {
        if (!joined && sim.alive_count(nodes, 0) == static_cast<size_t>(nodes)) {
          joined = sim.now() - t0;
        }
        if (!refuted && sim.alive_count(2, inc2 + 1) == static_cast<size_t>(nodes)) {
          refuted = sim.now() - t0;
        }
        return joined && refuted;
      },
      t0 + seconds(30), milliseconds(10));
  std::printf(
      "%d nodes, %zu members in the fullest table after the flood: newcomer alive "
      "everywhere after %.2f s, refutation after %.2f s\n",
      nodes, table, joined ? secs(*joined) : -1.0, refuted ? secs(*refuted) : -1.0);
  ASSERT_TRUE(joined) << "the newcomer was not alive everywhere within 30 s";
  ASSERT_TRUE(refuted) << "the refutation did not reach everyone within 30 s";
  // A few periods (200 ms each).
  EXPECT_LE(secs(*joined), bound_s);
  EXPECT_LE(secs(*refuted), bound_s);
}

// The attack tried from outside: 2,900 datagrams, 70,000 invented members,
// 5 members. Before this test, the newcomer was still unknown to a member
// and the refutation had not reached the accuser after 30 s.
TEST(SimFlood, ANewcomerAndARefutationSpreadThroughAFloodOfInventedMembers) {
  expect_fresh_news_spreads(5, 71, Flood{2900, 24}, 1.0);
}

// More members to spread to (a smaller flood keeps the test quick: the
// invented members reach every table through gossip and full syncs).
TEST(SimFlood, TheSameInALargerCluster) { expect_fresh_news_spreads(30, 73, Flood{1000, 24}, 3.0); }

}  // namespace
}  // namespace shoal::sim
