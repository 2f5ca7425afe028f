// Copyright shoal authors. See scenarios.h.

#include "tests/sim/scenarios.h"

#include <cinttypes>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "shoal/node/forwarder.h"
#include "tests/sim/scenario_run.h"
#include "tests/sim/sim.h"

namespace shoal::sim {

namespace {

std::string fmt_opt(const std::optional<double>& v) {
  if (!v) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", *v);
  return buf;
}

ScenarioResult cold_start(const ScenarioOptions& o) {
  Run r(o);
  r.converged_cluster(o.nodes);
  return r.finish();
}

ScenarioResult dissemination(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  r.sim.run_for(seconds(2));
  // One change: a new member joins through one existing member, which
  // gossips its arrival. Measure until every member knows it.
  const int x = r.sim.add_node();
  const Instant t0 = r.sim.now();
  r.sim.start(x, {r.sim.address(o.nodes / 2)});
  const bool all =
      r.sim.run_until([&] { return r.sim.alive_count(x, 0) == static_cast<size_t>(o.nodes); },
                      t0 + seconds(30), milliseconds(10));
  if (!all) return r.fail("the change did not reach every member within 30 s"), r.finish();
  const double s = to_s(r.sim.now() - t0);
  r.result.all_detect_s = s;
  r.result.periods = s / to_s(o.config.protocol_period);
  r.result.converged = r.wait_converged(seconds(30));
  return r.finish();
}

ScenarioResult detect(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  r.sim.run_for(seconds(5));
  membership::Rng pick(o.seed ^ 0xdead);
  const int x = static_cast<int>(pick.below(static_cast<uint64_t>(o.nodes)));
  const std::string victim = r.sim.address(x);
  std::optional<Instant> first;
  r.sim.on_event = [&](int, const membership::MemberEvent& ev) {
    if (ev.name == victim && ev.status == Status::kFaulty && !first) first = r.sim.now();
  };
  const Instant t0 = r.sim.now();
  r.sim.crash(x);
  const size_t survivors = static_cast<size_t>(o.nodes - 1);
  if (!r.sim.run_until([&] { return r.sim.not_pingable_count(x) == survivors; }, t0 + seconds(60),
                       milliseconds(10))) {
    r.fail("not every survivor marked the crashed node faulty within 60 s");
  } else {
    r.result.all_detect_s = to_s(r.sim.now() - t0);
  }
  if (first) r.result.first_detect_s = to_s(*first - t0);
  r.result.converged = r.wait_converged(seconds(30));
  return r.finish();
}

ScenarioResult accuracy(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  const auto before = r.sim.stats();
  r.sim.set_loss(o.loss);
  const double secs = o.seconds > 0 ? o.seconds : 600;
  const Instant t0 = r.sim.now();
  r.sim.run_for(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(secs)));
  r.result.bytes_per_node_s = static_cast<double>(r.sim.stats().bytes_sent - before.bytes_sent) /
                              o.nodes / to_s(r.sim.now() - t0);
  r.sim.set_loss(0);
  r.result.converged = r.wait_converged(seconds(60));
  ScenarioResult& res = r.finish();
  res.false_faulty = r.sim.stats().false_faulty - before.false_faulty;
  res.false_suspect = r.sim.stats().false_suspect - before.false_suspect;
  if (res.false_faulty != 0) r.fail("a live member was declared faulty");
  if (!res.converged) r.fail("did not converge after the loss stopped");
  return res;
}

ScenarioResult slow_node(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  const int slow = o.nodes / 2;
  const std::string slow_address = r.sim.address(slow);
  uint64_t healthy_faulty = 0, healthy_suspect = 0;
  r.sim.on_event = [&](int, const membership::MemberEvent& ev) {
    if (ev.name == slow_address || ev.forgotten) return;
    healthy_faulty += ev.status == Status::kFaulty;
    healthy_suspect += ev.status == Status::kSuspect;
  };
  r.sim.set_node_delay(slow, seconds(2));
  const double secs = o.seconds > 0 ? o.seconds : 120;
  r.sim.run_for(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(secs)));
  r.sim.set_node_delay(slow, Duration::zero());
  r.result.converged = r.wait_converged(seconds(60));
  ScenarioResult& res = r.finish();
  // Only the healthy members count here: the slow one may rightly look dead.
  res.false_faulty = healthy_faulty;
  res.false_suspect = healthy_suspect;
  if (healthy_faulty != 0) r.fail("a healthy member was declared faulty");
  if (!res.converged) r.fail("did not converge after the node recovered");
  return res;
}

ScenarioResult refute(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  const int x = o.nodes - 1;
  const std::string target = r.sim.address(x);
  const auto before = r.sim.node(x).incarnation();
  bool left_ring = false;
  r.sim.on_event = [&](int, const membership::MemberEvent& ev) {
    if (ev.name == target && !membership::is_pingable(ev.status)) left_ring = true;
  };
  // Node 1 hears from node 0 that x is suspect.
  membership::Gossip g{r.sim.address(0), 0, {}};
  g.changes.push_back({target, Status::kSuspect, before, {}, r.sim.address(0), 0});
  const Instant t0 = r.sim.now();
  r.sim.inject(r.sim.address(0), 1, g);
  const bool refuted = r.sim.run_until(
      [&] { return r.sim.alive_count(x, before + 1) == static_cast<size_t>(o.nodes - 1); },
      t0 + seconds(30), milliseconds(10));
  if (!refuted) r.fail("the refutation did not reach every member within 30 s");
  r.result.all_detect_s = to_s(r.sim.now() - t0);  // time until refuted everywhere
  r.sim.run_for(seconds(10));
  if (left_ring) r.fail("the suspected member left the ring somewhere");
  r.result.converged = r.wait_converged(seconds(30));
  return r.finish();
}

ScenarioResult partition(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  const int half = o.nodes / 2;
  for (int i = 0; i < o.nodes; ++i) r.sim.set_side(i, i < half ? 1 : 2);
  r.sim.run_for(seconds(60));
  // Each side must have marked the other faulty.
  for (int i = 0; i < o.nodes; ++i) {
    for (int j = (i < half ? half : 0); j < (i < half ? o.nodes : half); ++j) {
      auto m = r.sim.node(i).member(r.sim.address(j));
      if (m && membership::is_pingable(m->status)) {
        r.fail("after 60 s of partition a node still sees the other side alive");
        i = o.nodes;
        break;
      }
    }
  }
  r.sim.heal_partition();
  const Instant t0 = r.sim.now();
  r.result.converged = r.wait_converged(seconds(30));
  if (r.result.converged) {
    r.result.converge_s = to_s(r.sim.now() - t0);
  } else {
    r.result.converge_s.reset();
    r.fail("the halves did not merge within 30 s of healing");
  }
  ScenarioResult& res = r.finish();
  return res;
}

ScenarioResult restart(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  const int x = o.nodes / 3;
  const auto old_inc = r.sim.node(x).incarnation();
  Instant t0 = r.sim.now();
  r.sim.crash(x);
  if (!r.sim.run_until(
          [&] { return r.sim.not_pingable_count(x) == static_cast<size_t>(o.nodes - 1); },
          t0 + seconds(60))) {
    return r.fail("crash not detected"), r.finish();
  }
  r.result.all_detect_s = to_s(r.sim.now() - t0);
  r.sim.run_for(seconds(2));
  t0 = r.sim.now();
  r.sim.start(x, r.seeds);
  if (r.sim.node(x).incarnation() <= old_inc) r.fail("restart did not raise the incarnation");
  const bool back = r.sim.run_until(
      [&] { return r.sim.alive_count(x, old_inc + 1) == static_cast<size_t>(o.nodes - 1); },
      t0 + seconds(30));
  if (!back) r.fail("the restarted node is not alive everywhere within 30 s");
  r.result.converged = r.wait_converged(seconds(30));
  if (r.result.converged) r.result.converge_s = to_s(r.sim.now() - t0);
  return r.finish();
}

ScenarioResult churn(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  // Over 60 s: 10% of the nodes crash and as many new ones join, at random
  // times.
  membership::Rng rng(o.seed ^ 0xc0ffee);
  const Instant t0 = r.sim.now();
  for (const auto& [when, what] : r.churn_plan(rng, std::max(1, o.nodes / 10))) {
    r.sim.run_until(when);
    r.apply_change(rng, what);
  }
  r.sim.run_until(t0 + seconds(60));
  const Instant t1 = r.sim.now();
  r.result.converged = r.wait_converged(seconds(60));
  if (r.result.converged) {
    r.result.converge_s = to_s(r.sim.now() - t1);
  } else {
    r.fail("did not converge within 60 s after the churn");
  }
  return r.finish();
}

ScenarioResult bandwidth(const ScenarioOptions& o) {
  Run r(o);
  if (!r.converged_cluster(o.nodes)) return r.finish();
  // Steady state: the cold start's backlog of join claims has drained.
  if (!r.sim.run_until([&] { return r.sim.pending_changes() == 0; }, r.sim.now() + seconds(300),
                       seconds(1))) {
    return r.fail("piggyback queues did not drain within 300 s"), r.finish();
  }
  r.sim.run_for(seconds(5));
  const auto before = r.sim.stats().bytes_sent;
  const auto tcp_before = r.sim.stats().exchange_bytes;
  const double secs = o.seconds > 0 ? o.seconds : 30;
  const Instant t0 = r.sim.now();
  r.sim.run_for(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(secs)));
  r.result.bytes_per_node_s =
      static_cast<double>(r.sim.stats().bytes_sent - before) / o.nodes / to_s(r.sim.now() - t0);
  r.result.tcp_bytes_per_node_s = static_cast<double>(r.sim.stats().exchange_bytes - tcp_before) /
                                  o.nodes / to_s(r.sim.now() - t0);
  r.result.converged = r.sim.converged();
  return r.finish();
}

// Forwarding under churn: over 60 s, a quarter of the nodes crash and as
// many new ones join, at random times, while every millisecond a random
// joined member sends a request for a random key (1,000 requests/s) with
// the default budget (1 s, 3 retries). Every request must end exactly once
// (lost == 0, duplicates == 0), and at least 99% of them ok. Requests whose
// sender crashed first are counted apart (sender_crashed).
struct RequestLog {
  std::vector<int> sender;
  std::vector<int> ends;
  std::vector<std::string> first;
};

ScenarioResult forward_churn(const ScenarioOptions& o) {
  Run r(o);
  r.sim.set_ring_checksum_only(false);  // requests look their keys up
  r.sim.handler = [](int, std::string_view, std::string_view payload) {
    return node::HandlerResult{true, std::string(payload)};
  };
  if (!r.converged_cluster(o.nodes)) return r.finish();
  r.sim.run_until([&] { return r.sim.rings_agree(); }, r.sim.now() + seconds(10));
  membership::Rng rng(o.seed ^ 0xf0f0f0);
  const Instant t0 = r.sim.now();
  const auto plan = r.churn_plan(rng, std::max(1, o.nodes / 4));
  RequestLog log;
  auto pick_sender = [&] {
    for (int tries = 0; tries < 1000; ++tries) {
      const int v = static_cast<int>(rng.below(r.sim.size()));
      if (r.sim.running(v) && r.sim.node(v).joined()) return v;
    }
    return -1;
  };
  size_t next = 0;
  for (int ms = 0; ms < 60000; ++ms) {
    r.sim.run_until(t0 + milliseconds(ms));
    for (; next < plan.size() && plan[next].first <= r.sim.now(); ++next) {
      r.apply_change(rng, plan[next].second);
    }
    const int from = pick_sender();
    if (from < 0) continue;
    const size_t id = log.sender.size();
    log.sender.push_back(from);
    log.ends.push_back(0);
    log.first.emplace_back();
    r.sim.forward(from, "key-" + std::to_string(rng.next()), "p", node::ForwardOptions{},
                  [&log, id](node::ForwardResult res) {
                    if (log.ends[id]++ == 0) log.first[id] = std::string(to_string(res.error));
                  });
  }
  // Every request's budget is 1 s: 5 s is plenty for the last ones to end.
  r.sim.run_for(seconds(5));
  for (size_t id = 0; id < log.sender.size(); ++id) {
    ++r.result.requests;
    if (log.ends[id] > 1) ++r.result.duplicates;
    if (log.ends[id] == 0) {
      // Its sender crashed (the engine and its calls are gone), or it is lost.
      if (!r.sim.running(log.sender[id])) {
        ++r.result.sender_crashed;
      } else {
        ++r.result.lost;
      }
      continue;
    }
    ++r.result.outcomes[log.first[id]];
  }
  const uint64_t ended = r.result.requests - r.result.sender_crashed;
  const uint64_t ok = r.result.outcomes["ok"];
  if (r.result.lost != 0) r.fail("requests that never ended");
  if (r.result.duplicates != 0) r.fail("requests that ended more than once");
  if (ok * 100 < ended * 99) r.fail("fewer than 99% of the requests ended ok");
  r.result.converged = r.wait_converged(seconds(60));
  if (!r.result.converged) r.fail("did not converge within 60 s after the churn");
  return r.finish();
}

const std::map<std::string, std::function<ScenarioResult(const ScenarioOptions&)>>& registry() {
  static const std::map<std::string, std::function<ScenarioResult(const ScenarioOptions&)>> r = {
      {"cold-start", cold_start},
      {"dissemination", dissemination},
      {"detect", detect},
      {"accuracy", accuracy},
      {"slow-node", slow_node},
      {"refute", refute},
      {"partition", partition},
      {"restart", restart},
      {"churn", churn},
      {"bandwidth", bandwidth},
      {"forward-churn", forward_churn},
      {"broadcast", app_broadcast},
      {"event-storm", app_event_storm},
      {"query", app_query},
  };
  return r;
}

}  // namespace

std::vector<std::string> scenario_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : registry()) names.push_back(name);
  return names;
}

ScenarioResult run_scenario(const ScenarioOptions& options) {
  auto it = registry().find(options.name);
  if (it == registry().end()) {
    ScenarioResult r;
    r.scenario = options.name;
    r.ok = false;
    r.error = "unknown scenario";
    return r;
  }
  return it->second(options);
}

std::string ScenarioResult::to_json() const {
  char buf[1024];
  std::snprintf(
      buf, sizeof buf,
      "{\"scenario\": \"%s\", \"nodes\": %d, \"seed\": %" PRIu64
      ", \"loss\": %.3f, \"ok\": %s, \"converged\": %s, \"rings_agree\": %s, "
      "\"converge_s\": %s, \"first_detect_s\": %s, \"all_detect_s\": %s, "
      "\"periods\": %s, \"false_faulty\": %" PRIu64 ", \"false_suspect\": %" PRIu64
      ", \"bytes_per_node_s\": %s, \"tcp_bytes_per_node_s\": %s, ",
      scenario.c_str(), nodes, seed, loss, ok ? "true" : "false", converged ? "true" : "false",
      rings_agree ? (*rings_agree ? "true" : "false") : "null", fmt_opt(converge_s).c_str(),
      fmt_opt(first_detect_s).c_str(), fmt_opt(all_detect_s).c_str(), fmt_opt(periods).c_str(),
      false_faulty, false_suspect, fmt_opt(bytes_per_node_s).c_str(),
      fmt_opt(tcp_bytes_per_node_s).c_str());
  std::string out = buf;
  if (requests > 0) {
    out += "\"requests\": " + std::to_string(requests) + ", \"outcomes\": {";
    bool first = true;
    for (const auto& [name, count] : outcomes) {
      out += (first ? "\"" : ", \"") + name + "\": " + std::to_string(count);
      first = false;
    }
    out += "}, \"lost\": " + std::to_string(lost) +
           ", \"duplicates\": " + std::to_string(duplicates) +
           ", \"sender_crashed\": " + std::to_string(sender_crashed) + ", ";
  }
  if (alive) {
    out += "\"alive\": " + std::to_string(*alive) +
           ", \"delivered\": " + std::to_string(delivered.value_or(0)) +
           ", \"duplicates\": " + std::to_string(duplicates) +
           ", \"wrong\": " + std::to_string(wrong.value_or(0)) +
           ", \"app_bytes_per_node\": " + fmt_opt(app_bytes_per_node) + ", ";
  }
  std::snprintf(buf, sizeof buf, "\"sim_s\": %.3f, \"wall_s\": %.3f, \"error\": \"%s\"}", sim_s,
                wall_s, error.c_str());
  return out + buf;
}

}  // namespace shoal::sim
