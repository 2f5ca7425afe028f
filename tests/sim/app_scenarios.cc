// Copyright shoal authors. App gossip scenarios (scenarios.h): a
// broadcast, a storm of user events, a query with a label filter, each in
// a converged cluster where nodes crash meanwhile. Every node's deliveries
// are counted against who was alive at the end.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/sim/scenario_run.h"

namespace shoal::sim {

namespace {

// Crashes `count` random running nodes not in `keep`, one every
// `spacing` from now on: the first at once.
void crash_some(Run& r, membership::Rng& rng, int count, const std::set<int>& keep,
                Duration spacing) {
  for (int c = 0, tries = 0; c < count && tries < 10000; ++tries) {
    const int v = static_cast<int>(rng.below(r.sim.size()));
    if (keep.count(v) != 0 || !r.sim.running(v)) continue;
    r.sim.crash(v);
    ++c;
    r.sim.run_for(spacing);
  }
}

// Counts deliveries per node of one kind of message.
struct Deliveries {
  std::map<int, std::map<std::string, int>> per_node;  // node -> message key -> times
  void note(int node, const std::string& key) { ++per_node[node][key]; }
  int times(int node, const std::string& key) const {
    auto n = per_node.find(node);
    if (n == per_node.end()) return 0;
    auto k = n->second.find(key);
    return k == n->second.end() ? 0 : k->second;
  }
};

int crash_count(const ScenarioOptions& o) { return std::max(1, o.nodes / 100); }

// The app bytes the running nodes sent, per running node.
double app_bytes(Run& r) {
  uint64_t bytes = 0;
  int running = 0;
  for (int i = 0; i < static_cast<int>(r.sim.size()); ++i) {
    if (!r.sim.running(i)) continue;
    bytes += r.sim.node(i).stats().app_bytes_sent;
    ++running;
  }
  return running == 0 ? 0 : static_cast<double>(bytes) / running;
}

}  // namespace

// One node broadcasts while 1% of the nodes crash; every node alive at the
// end but the origin must deliver it once (broadcasts are not delivered
// to their origin). At loss > 0 the share reached is reported.
ScenarioResult app_broadcast(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  membership::Rng rng(o.seed ^ 0xb0b0);
  const int origin = static_cast<int>(rng.below(static_cast<uint64_t>(o.nodes)));
  Deliveries seen;
  std::map<int, Instant> first;  // when each node delivered it
  r.sim.on_app = [&](int node, const membership::AppMessage& m) {
    if (m.kind != membership::AppKind::kBroadcast) return;
    seen.note(node, m.name + "/" + m.payload);
    first.emplace(node, r.sim.now());
  };
  r.sim.set_loss(o.loss);
  const Instant t0 = r.sim.now();
  if (std::string why = r.sim.broadcast(origin, "config", "v1"); !why.empty()) {
    return r.fail("broadcast refused: " + why), r.finish();
  }
  crash_some(r, rng, crash_count(o), {origin}, milliseconds(100));
  auto count = [&] {
    uint64_t alive = 0, delivered = 0;
    for (int i = 0; i < static_cast<int>(r.sim.size()); ++i) {
      if (i == origin || !r.sim.running(i)) continue;
      ++alive;
      delivered += seen.times(i, "config/v1") > 0;
    }
    return std::pair(alive, delivered);
  };
  const bool all = r.sim.run_until([&] { return count().first == count().second; },
                                   t0 + seconds(30), milliseconds(10));
  if (all) {
    // The last alive member's delivery (the crashes above take virtual
    // time, during which the broadcast spreads).
    Instant last = t0;
    for (const auto& [node, at] : first) {
      if (r.sim.running(node)) last = std::max(last, at);
    }
    r.result.all_detect_s = to_s(last - t0);
    r.result.periods = *r.result.all_detect_s / to_s(o.config.protocol_period);
  }
  r.sim.run_for(seconds(10));  // retransmissions end; nothing more may arrive
  for (const auto& [node, keys] : seen.per_node) {
    for (const auto& [key, times] : keys) r.result.duplicates += times > 1;
    if (node == origin) r.result.wrong = r.result.wrong.value_or(0) + 1;
  }
  std::tie(r.result.alive, r.result.delivered) = count();
  r.result.wrong = r.result.wrong.value_or(0);
  r.result.app_bytes_per_node = app_bytes(r);
  r.sim.set_loss(0);
  if (r.result.duplicates != 0) r.fail("a node delivered the broadcast twice");
  if (*r.result.wrong != 0) r.fail("the origin delivered its own broadcast");
  if (o.loss == 0 && !all) r.fail("the broadcast did not reach every alive member within 30 s");
  r.result.converged = r.wait_converged(seconds(60));
  return r.finish();
}

// A storm: one node sends 50 coalescing events named "deploy" over one
// second while five others send 10 plain events each, and 1% of the nodes
// crash. Every node alive at the end must deliver each plain event once,
// and of the deploys the newest (payload 49), and fewer than 50 of them.
ScenarioResult app_event_storm(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  membership::Rng rng(o.seed ^ 0xe7e7);
  Deliveries seen;
  r.sim.on_app = [&](int node, const membership::AppMessage& m) {
    if (m.kind == membership::AppKind::kEvent) seen.note(node, m.name + "/" + m.payload);
  };
  r.sim.set_loss(o.loss);
  const Instant t0 = r.sim.now();
  std::vector<std::string> plain;
  for (int step = 0; step < 50; ++step) {
    r.sim.run_until(t0 + milliseconds(20 * step));
    if (!r.sim.event(0, "deploy", std::to_string(step), true).empty()) {
      return r.fail("event refused"), r.finish();
    }
    if (step % 5 == 0) {
      for (int k = 1; k <= 5; ++k) {
        const std::string name = "tick-" + std::to_string(k);
        const std::string payload = std::to_string(step);
        if (!r.sim.event(k, name, payload, false).empty()) return r.fail("refused"), r.finish();
        plain.push_back(name + "/" + payload);
      }
    }
    if (step == 25) crash_some(r, rng, crash_count(o), {0, 1, 2, 3, 4, 5}, milliseconds(0));
  }
  auto complete = [&](int i) {
    for (const std::string& key : plain) {
      if (seen.times(i, key) == 0) return false;
    }
    return seen.times(i, "deploy/49") > 0;
  };
  auto count = [&] {
    uint64_t alive = 0, delivered = 0;
    for (int i = 0; i < static_cast<int>(r.sim.size()); ++i) {
      if (!r.sim.running(i)) continue;
      ++alive;
      delivered += complete(i);
    }
    return std::pair(alive, delivered);
  };
  const bool all = r.sim.run_until([&] { return count().first == count().second; },
                                   r.sim.now() + seconds(30), milliseconds(10));
  if (all) r.result.all_detect_s = to_s(r.sim.now() - t0);
  r.sim.run_for(seconds(10));
  uint64_t deploys_max = 0;
  for (const auto& [node, keys] : seen.per_node) {
    uint64_t deploys = 0;
    for (const auto& [key, times] : keys) {
      r.result.duplicates += times > 1;
      deploys += key.rfind("deploy/", 0) == 0 ? static_cast<uint64_t>(times) : 0;
    }
    deploys_max = std::max(deploys_max, deploys);
  }
  std::tie(r.result.alive, r.result.delivered) = count();
  r.result.wrong = deploys_max;  // the most deploy events one node delivered
  r.result.app_bytes_per_node = app_bytes(r);
  r.sim.set_loss(0);
  if (r.result.duplicates != 0) r.fail("a node delivered an event twice");
  if (deploys_max >= 50) r.fail("the deploy events were not coalesced anywhere");
  if (o.loss == 0 && !all) r.fail("not every alive member delivered every event within 30 s");
  r.result.converged = r.wait_converged(seconds(60));
  return r.finish();
}

// A query to the members labelled role=db (every third one) while 1% of
// the nodes crash: every labelled member alive at the end answers once,
// no other member answers, and the asker is told the end once.
ScenarioResult app_query(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  for (int i = 0; i < o.nodes; i += 3) r.sim.set_labels(i, {{"role", "db"}});
  membership::Rng rng(o.seed ^ 0x9e9e);
  const int asker = 1;
  std::map<std::string, int> responses, acks;
  int ends = 0;
  r.sim.set_loss(o.loss);
  membership::QuerySpec spec;
  spec.name = "ping";
  spec.labels = {{"role", "db"}};
  spec.want_ack = true;
  const Instant t0 = r.sim.now();
  const std::string why = r.sim.query(asker, spec, [&](const membership::AppOutput& out) {
    if (out.what == membership::AppOutput::What::kQueryEnd) {
      ++ends;
    } else {
      ++(out.ack ? acks : responses)[out.from];
    }
  });
  if (!why.empty()) return r.fail("query refused: " + why), r.finish();
  crash_some(r, rng, crash_count(o), {asker}, milliseconds(100));
  r.sim.run_until([&] { return ends > 0; }, t0 + seconds(120), milliseconds(10));
  r.result.all_detect_s = to_s(r.sim.now() - t0);  // the query's timeout
  r.result.app_bytes_per_node = app_bytes(r);
  r.result.alive = 0;
  r.result.delivered = 0;
  r.result.wrong = 0;
  for (int i = 0; i < o.nodes; ++i) {
    const bool labelled = i % 3 == 0;
    auto it = responses.find(r.sim.name(i));
    const int answers = it == responses.end() ? 0 : it->second;
    r.result.duplicates += answers > 1;
    if (!labelled) *r.result.wrong += answers > 0;
    if (labelled && r.sim.running(i)) {
      ++*r.result.alive;
      *r.result.delivered += answers == 1 && acks[r.sim.name(i)] == 1;
    }
  }
  r.sim.set_loss(0);
  if (ends != 1) r.fail("the asker was not told the end exactly once");
  if (r.result.duplicates != 0) r.fail("a member answered twice");
  if (*r.result.wrong != 0) r.fail("a member without the label answered");
  if (o.loss == 0 && *r.result.delivered != *r.result.alive) {
    r.fail("not every labelled member alive answered (and acked) once");
  }
  r.result.converged = r.wait_converged(seconds(60));
  return r.finish();
}

}  // namespace shoal::sim
