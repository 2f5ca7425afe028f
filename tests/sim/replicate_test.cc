// The replicator (Node::replicate) in virtual time under churn: a write
// acknowledged by W members was run by W distinct members, each one of the
// key's first N owners in the writer's ring when it wrote, each told which
// owner it was; no owner ran one write twice; every call ended once.

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "shoal/membership/rng.h"
#include "tests/sim/sim.h"

namespace shoal::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(SimReplicate, AcknowledgedWritesAreHeldByTheirOwnersUnderChurn) {
  Simulator sim(31, NetworkOptions{}, membership::Config{});
  // (address of the node that ran it, key) -> the replica number it was told.
  std::map<std::pair<std::string, std::string>, std::vector<int>> held;
  sim.request_handler = [&](int i, const node::Request& r) {
    held[{sim.address(i), r.key}].push_back(r.replica);
    return node::HandlerResult{true, "stored"};
  };
  std::vector<std::string> seeds;
  const int n = 30;
  for (int i = 0; i < n; ++i) sim.add_node();
  for (int i = 0; i < 3; ++i) seeds.push_back(sim.address(i));
  for (int i = 0; i < n; ++i) sim.start(i, seeds);
  ASSERT_TRUE(
      sim.run_until([&] { return sim.converged() && sim.rings_agree(); }, sim.now() + seconds(30)));

  struct Write {
    std::vector<std::string> owners;  // the writer's ring when it wrote
    int ends = 0;
    node::ReplicaResult result;
  };
  std::vector<Write> writes;
  writes.reserve(6000);
  membership::Rng rng(99);
  node::ReplicaOptions o;  // n 3, W 2, parallel
  const auto t0 = sim.now();
  for (int ms = 0; ms < 30000; ms += 5) {
    sim.run_until(t0 + milliseconds(ms));
    if (ms % 1500 == 0 && ms > 0) {
      // Churn: one running node crashes, one new node joins.
      for (int tries = 0; tries < 100; ++tries) {
        const int v = static_cast<int>(rng.below(sim.size()));
        if (v >= 3 && sim.running(v)) {
          sim.crash(v);
          break;
        }
      }
      sim.start(sim.add_node(), seeds);
    }
    const int from = static_cast<int>(rng.below(sim.size()));
    if (!sim.running(from) || !sim.node(from).joined()) continue;
    const size_t id = writes.size();
    const std::string key = "key-" + std::to_string(id);
    Write w;
    for (std::string_view m : sim.engine(from).ring().current()->lookup_n(key, o.n)) {
      w.owners.emplace_back(m);
    }
    writes.push_back(std::move(w));
    sim.replicate(from, key, "v", o, [&writes, id](node::ReplicaResult r) {
      if (writes[id].ends++ == 0) writes[id].result = std::move(r);
    });
  }
  sim.run_for(seconds(5));  // every budget is 1 s

  size_t acked = 0;
  for (size_t id = 0; id < writes.size(); ++id) {
    const Write& w = writes[id];
    const std::string key = "key-" + std::to_string(id);
    ASSERT_EQ(w.ends, 1) << key;
    if (w.owners.size() < o.n) continue;  // refused: fewer members than n
    ASSERT_EQ(w.result.answers.size(), o.n) << key;
    std::set<std::string> ok_members;
    for (size_t i = 0; i < o.n; ++i) {
      const node::ReplicaAnswer& a = w.result.answers[i];
      EXPECT_EQ(a.member, w.owners[i]) << key;
      if (a.state != node::ReplicaAnswer::State::kAnswered || !a.result.ok()) continue;
      ok_members.insert(a.member);
      // It ran there, once, told that it was owner i.
      auto it = held.find({a.member, key});
      ASSERT_NE(it, held.end()) << key << " acknowledged by " << a.member << " that never ran it";
      EXPECT_EQ(it->second, std::vector<int>{static_cast<int>(i)}) << key << " on " << a.member;
    }
    if (w.result.ok()) {
      ++acked;
      EXPECT_GE(ok_members.size(), o.quorum) << key;
      EXPECT_EQ(ok_members.size(), w.result.ok_count) << key;
    }
  }
  // No member ran any write twice, acknowledged or not.
  for (const auto& [where, replicas] : held) {
    EXPECT_EQ(replicas.size(), 1u) << where.second << " on " << where.first;
  }
  size_t failed_owners = 0, crashed = 0;
  for (const Write& w : writes) {
    for (const node::ReplicaAnswer& a : w.result.answers) failed_owners += !a.result.ok();
  }
  for (size_t i = 0; i < sim.size(); ++i) crashed += !sim.running(static_cast<int>(i));
  std::printf("%zu writes, %zu acknowledged, %zu owner answers not ok, %zu nodes crashed\n",
              writes.size(), acked, failed_owners, crashed);
  EXPECT_GT(writes.size(), 4000u);
  // Most writes are acknowledged; the rest went to owners that had crashed
  // before the writer's ring dropped them.
  EXPECT_GT(acked * 100, writes.size() * 95) << acked << " of " << writes.size();
}

}  // namespace
}  // namespace shoal::sim
