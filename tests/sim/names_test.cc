// Stable member names (docs/PROTOCOL.md "Names"), proved in the simulator:
// a member that restarts on a new address under its name keeps its keys;
// two live processes under one name end with the same holder on every
// node and the other stands down; a forged claim that moves a live
// member's name elsewhere is refuted.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/sim/sim.h"

namespace shoal::sim {
namespace {

using membership::Status;
using std::chrono::seconds;

std::string name_of(int i) { return "node-" + std::to_string(i); }

// n nodes named node-0..node-(n-1), joined through the first three.
void start_named(Simulator& sim, int n) {
  std::vector<std::string> seeds;
  for (int i = 0; i < n; ++i) {
    sim.add_node();
    sim.set_name(i, name_of(i));
  }
  for (int i = 0; i < 3; ++i) seeds.push_back(sim.address(i));
  for (int i = 0; i < n; ++i) sim.start(i, seeds);
  ASSERT_TRUE(sim.run_until([&] { return sim.converged(); }, sim.now() + seconds(30)));
  ASSERT_TRUE(sim.run_until([&] { return sim.rings_agree(); }, sim.now() + seconds(10)));
}

// Every running node other than `except` knows member `name` alive at `address`.
bool everyone_sees(const Simulator& sim, const std::string& name, const std::string& address,
                   int except = -1) {
  for (int j = 0; j < static_cast<int>(sim.size()); ++j) {
    if (j == except || !sim.running(j)) continue;
    auto m = sim.node(j).member(name);
    if (!m || m->status != Status::kAlive || membership::address_of(*m) != address) return false;
  }
  return true;
}

std::map<std::string, std::string> owners(const Simulator& sim, int observer, int keys) {
  std::map<std::string, std::string> out;
  auto ring = const_cast<Simulator&>(sim).engine(observer).ring().current();
  for (int k = 0; k < keys; ++k) {
    const std::string key = "key-" + std::to_string(k);
    out[key] = std::string(ring->lookup(key));
  }
  return out;
}

// A pod restarted on a new IP (kill, then the same name on another
// address): every node moves the name to the new address, no one declares
// it faulty, the ring is the same ring, and requests for its keys reach
// the new process.
TEST(SimNames, RestartOnNewAddressKeepsKeys) {
  Simulator sim(61, NetworkOptions{}, membership::Config{});
  std::map<int, int> handled;  // node index -> handler runs
  sim.handler = [&handled](int node, std::string_view, std::string_view) {
    ++handled[node];
    return node::HandlerResult{true, "ok"};
  };
  start_named(sim, 10);
  const uint64_t ring_before = sim.engine(0).ring().current()->checksum();
  const auto owners_before = owners(sim, 0, 2000);
  uint64_t faulty = 0;
  sim.on_event = [&](int, const membership::MemberEvent& e) {
    if (e.name == name_of(3) && e.status == Status::kFaulty) ++faulty;
  };

  sim.crash(3);
  const int again = sim.add_node();  // a new address
  sim.set_name(again, name_of(3));
  sim.start(again, {sim.address(0)});
  ASSERT_TRUE(sim.run_until([&] { return everyone_sees(sim, name_of(3), sim.address(again)); },
                            sim.now() + seconds(10)));
  ASSERT_TRUE(
      sim.run_until([&] { return sim.converged() && sim.rings_agree(); }, sim.now() + seconds(30)));
  sim.run_for(seconds(20));  // long past any suspicion timeout

  EXPECT_EQ(faulty, 0u);
  EXPECT_EQ(sim.stats().false_faulty, 0u);
  EXPECT_GT(sim.node(0).stats().members_moved, 0u);
  EXPECT_EQ(sim.engine(0).ring().current()->checksum(), ring_before);
  EXPECT_EQ(owners(sim, 5, 2000), owners_before);

  // Keys of node-3 are served by the new process.
  int ended = 0;
  for (const auto& [key, owner] : owners_before) {
    if (owner != name_of(3)) continue;
    sim.forward(0, key, "p", node::ForwardOptions{}, [&ended](node::ForwardResult r) {
      EXPECT_TRUE(r.ok()) << r.message;
      EXPECT_EQ(r.handled_by, name_of(3));
      ++ended;
    });
  }
  sim.run_for(seconds(5));
  EXPECT_GT(ended, 0);
  EXPECT_EQ(handled[again], ended);
  EXPECT_EQ(handled[3], 0);
}

// Two live processes under one name (a copy-pasted --name): the newer one
// (higher incarnation) holds the name on every node, the older checks that
// the newer really is alive, stands down and says so. Then it stays that
// way: no flapping.
TEST(SimNames, TwoLiveProcessesUnderOneNameResolveTheSameEverywhere) {
  Simulator sim(62, NetworkOptions{}, membership::Config{});
  start_named(sim, 10);
  sim.run_for(seconds(1));  // the newcomer's incarnation is higher
  const int twin = sim.add_node();
  sim.set_name(twin, name_of(3));
  sim.start(twin, {sim.address(0)});
  ASSERT_TRUE(sim.run_until([&] { return sim.node(3).displaced(); }, sim.now() + seconds(20)));
  EXPECT_EQ(sim.node(3).displaced_by(), sim.address(twin));
  EXPECT_GE(sim.node(3).stats().name_conflicts, 1u);
  ASSERT_TRUE(sim.run_until([&] { return everyone_sees(sim, name_of(3), sim.address(twin), 3); },
                            sim.now() + seconds(20)));

  uint64_t moved = 0;
  sim.on_event = [&](int observer, const membership::MemberEvent& e) {
    if (observer != 3 && e.name == name_of(3) && e.address != sim.address(twin)) ++moved;
  };
  sim.run_for(seconds(60));
  EXPECT_EQ(moved, 0u) << "the name flapped back to the displaced process";
  EXPECT_TRUE(everyone_sees(sim, name_of(3), sim.address(twin), 3));
  EXPECT_TRUE(sim.node(3).displaced());
  EXPECT_EQ(sim.node(twin).stats().refutations, 0u);
  // Every node but the displaced one has the same table and ring.
  for (int j = 1; j < static_cast<int>(sim.size()); ++j) {
    if (j == 3) continue;
    EXPECT_EQ(sim.node(j).checksum(), sim.node(0).checksum()) << j;
    EXPECT_EQ(sim.engine(j).ring().current()->checksum(),
              sim.engine(0).ring().current()->checksum())
        << j;
  }
  EXPECT_EQ(sim.engine(0).ring().current()->member_count(), 10u);
}

// A forged claim that a live member's name moved to an address where
// nobody answers (sent from outside, with a plausible incarnation): the
// nodes that hear it move the name, the member finds nobody at the claimed
// address, refutes from its own, and everyone moves the name back. Nothing
// is declared faulty and the member does not stand down.
TEST(SimHostile, ForgedNameMoveIsRefuted) {
  Simulator sim(63, NetworkOptions{}, membership::Config{});
  start_named(sim, 20);
  const int x = 4;
  const auto inc = sim.node(x).incarnation();
  const std::string outsider = "192.0.2.1:7000";
  const std::string nowhere = "192.0.2.9:7000";
  membership::Change claim{name_of(x), Status::kAlive, inc + 1, {}, name_of(x), inc + 1, nowhere};
  membership::Gossip g{outsider, 0, {claim}};
  for (int to = 0; to < 3; ++to) sim.inject(outsider, to, g);
  sim.inject(outsider, x, g);
  ASSERT_TRUE(
      sim.run_until([&] { return sim.node(x).incarnation() > inc + 1; }, sim.now() + seconds(10)));
  ASSERT_TRUE(
      sim.run_until([&] { return sim.alive_count(x, inc + 2) == 19; }, sim.now() + seconds(20)));
  sim.run_for(seconds(20));
  EXPECT_FALSE(sim.node(x).displaced());
  EXPECT_EQ(sim.node(x).stats().name_conflicts, 1u);
  EXPECT_GE(sim.node(x).stats().refutations, 1u);
  EXPECT_EQ(sim.stats().false_faulty, 0u);
  EXPECT_TRUE(everyone_sees(sim, name_of(x), sim.address(x)));
  EXPECT_TRUE(sim.converged());
}

}  // namespace
}  // namespace shoal::sim
