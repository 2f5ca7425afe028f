// serf's force-leave in virtual time (Membership::force_leave): a crashed
// member marked left by one node is `leave` on every node within a second,
// off every ring; refused for an alive, unknown or own name; a member
// that is in fact alive refutes it and stays.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/sim/sim.h"

namespace shoal::sim {
namespace {

using membership::Status;
using std::chrono::milliseconds;
using std::chrono::seconds;

void start_cluster(Simulator& sim, int n) {
  std::vector<std::string> seeds;
  for (int i = 0; i < n; ++i) sim.add_node();
  for (int i = 0; i < 3; ++i) seeds.push_back(sim.address(i));
  for (int i = 0; i < n; ++i) sim.start(i, seeds);
  ASSERT_TRUE(sim.run_until([&] { return sim.converged(); }, sim.now() + seconds(30)));
}

std::optional<Status> status(const Simulator& sim, int viewer, const std::string& name) {
  auto m = sim.node(viewer).member(name);
  return m ? std::optional<Status>(m->status) : std::nullopt;
}

TEST(SimForceLeave, ACrashedMemberIsLeaveEverywhereWithinASecond) {
  Simulator sim(41, NetworkOptions{}, membership::Config{});
  start_cluster(sim, 20);
  const std::string victim = sim.address(7);
  EXPECT_EQ(sim.force_leave(0, victim),
            victim + " is alive: force-leave is for a member that is suspect or faulty");
  EXPECT_EQ(sim.force_leave(0, "10.9.9.9:1"),
            "no member named 10.9.9.9:1 is known to " + sim.address(0));
  EXPECT_EQ(sim.force_leave(0, sim.address(0)), sim.address(0) + " is this node: use leave");
  sim.crash(7);
  // Once node 0 suspects it, long before every suspicion timer runs out.
  ASSERT_TRUE(sim.run_until([&] { return status(sim, 0, victim) == Status::kSuspect; },
                            sim.now() + seconds(10)));
  ASSERT_EQ(sim.force_leave(0, victim), "");
  const auto asked = sim.now();
  auto everywhere = [&] {
    for (int i = 0; i < 20; ++i) {
      if (i == 7) continue;
      if (status(sim, i, victim) != Status::kLeave) return false;
      if (sim.engine(i).ring().current()->contains(victim)) return false;
    }
    return true;
  };
  ASSERT_TRUE(sim.run_until(everywhere, asked + seconds(1)));
  std::printf("force-leave reached 19 members in %.0f ms\n",
              std::chrono::duration<double, std::milli>(sim.now() - asked).count());
  EXPECT_EQ(sim.engine(0).core().stats().forced_leaves, 1u);
  EXPECT_EQ(sim.force_leave(0, victim), "");  // already left: nothing to do
}

// Forced on a member that only looked dead (a pause): it refutes with a
// higher incarnation, as any false suspicion, and stays on the rings.
TEST(SimForceLeave, AMemberThatIsAliveRefutesIt) {
  Simulator sim(43, NetworkOptions{}, membership::Config{});
  start_cluster(sim, 10);
  const std::string paused = sim.address(4);
  const auto inc = sim.node(4).incarnation();
  sim.pause(4, seconds(2));
  ASSERT_TRUE(sim.run_until([&] { return status(sim, 0, paused) == Status::kSuspect; },
                            sim.now() + seconds(5)));
  ASSERT_EQ(sim.force_leave(0, paused), "");
  ASSERT_TRUE(sim.run_until(
      [&] {
        for (int i = 0; i < 10; ++i) {
          if (status(sim, i, paused) != Status::kAlive) return false;
        }
        return true;
      },
      sim.now() + seconds(10)));
  EXPECT_GT(sim.node(4).incarnation(), inc);
}

}  // namespace
}  // namespace shoal::sim
