// Copyright shoal authors. The simulator's rings: checksum-only rings
// (Simulator::set_ring_checksum_only, what protocol scenarios use) say
// exactly what built rings say, and nodes with equal members share one
// snapshot (ring::RingCache).

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "tests/sim/sim.h"

namespace shoal::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A 40-node cluster: cold start, then crashes, a join and a weight label,
// with rings built or checksums only. Returns every node's ring checksum
// at each quiet point (after the publication delays).
std::vector<std::vector<uint64_t>> run(bool checksum_only) {
  Simulator sim(57, NetworkOptions{}, membership::Config{});
  sim.set_ring_checksum_only(checksum_only);
  std::vector<std::string> seeds;
  for (int i = 0; i < 40; ++i) sim.add_node();
  for (int i = 0; i < 3; ++i) seeds.push_back(sim.address(i));
  for (int i = 0; i < 40; ++i) {
    sim.run_until(membership::Instant(milliseconds(5 * i)));
    sim.start(i, seeds);
  }
  std::vector<std::vector<uint64_t>> out;
  auto quiet_point = [&] {
    sim.run_for(seconds(12));  // converged, and every delay (<= 2 s) past
    std::vector<uint64_t> sums;
    for (int i = 0; i < static_cast<int>(sim.size()); ++i) {
      if (sim.running(i)) sums.push_back(sim.engine(i).ring().checksum());
    }
    out.push_back(sums);
  };
  quiet_point();
  sim.crash(7);
  sim.crash(8);
  quiet_point();
  sim.start(sim.add_node(), seeds);
  EXPECT_EQ(sim.set_labels(3, {{"weight", "2"}}), "");
  quiet_point();
  return out;
}

TEST(SimRings, ChecksumOnlyRingsSayWhatBuiltRingsSay) {
  const auto built = run(false);
  const auto sums = run(true);
  ASSERT_EQ(built.size(), 3u);
  EXPECT_EQ(sums, built);
  for (const auto& point : built) {
    ASSERT_FALSE(point.empty());
    EXPECT_EQ(std::set<uint64_t>(point.begin(), point.end()).size(), 1u);  // all agree
  }
  // Each quiet point's ring differs from the one before (members changed).
  EXPECT_NE(built[0][0], built[1][0]);
  EXPECT_NE(built[1][0], built[2][0]);
}

TEST(SimRings, NodesWithEqualMembersShareOneRing) {
  Simulator sim(58, NetworkOptions{}, membership::Config{});
  std::vector<std::string> seeds;
  for (int i = 0; i < 30; ++i) sim.add_node();
  for (int i = 0; i < 3; ++i) seeds.push_back(sim.address(i));
  for (int i = 0; i < 30; ++i) sim.start(i, seeds);
  ASSERT_TRUE(
      sim.run_until([&] { return sim.converged() && sim.rings_agree(); }, sim.now() + seconds(30)));
  sim.run_for(seconds(3));
  std::set<const ring::Ring*> rings;
  for (int i = 0; i < 30; ++i) rings.insert(sim.engine(i).ring().current().get());
  EXPECT_EQ(rings.size(), 1u);
  EXPECT_EQ((*rings.begin())->member_count(), 30u);
}

}  // namespace
}  // namespace shoal::sim
