// Copyright shoal authors. The views of the counters table (counters.h).

#include "shoal/node/counters.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "shoal/membership/types.h"
#include "shoal/node/forwarding.h"
#include "shoal/proto/codec.h"

namespace shoal::node {

namespace {

using Kind = Metric::Kind;

Metric single(std::string_view name, Kind kind, std::string_view help, uint64_t value) {
  return Metric{name, kind, help, "", {{"", value}}};
}

Metric family(std::string_view name, Kind kind, std::string_view help, std::string_view label,
              const std::map<std::string, uint64_t>& values) {
  Metric m{name, kind, help, label, {}};
  for (const auto& [k, v] : values) m.values.emplace_back(k, v);
  return m;
}

// A bucket bound as Prometheus writes them ("0.00005", "2.5", "10").
std::string fmt_bound(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string prometheus_name(const Metric& m) {
  std::string name = "shoal_" + std::string(m.name);
  if (m.kind == Kind::kCounter) name += "_total";
  return name;
}

// One histogram's lines: cumulative buckets, then _sum and _count.
void append_histogram(std::string& out, const std::string& name, const std::string& labels,
                      const LatencyHistogram& h) {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t b = 0; b < LatencyHistogram::kBuckets; ++b) {
    cumulative += h.counts[b];
    const std::string le =
        b < kLatencyBoundsSeconds.size() ? fmt_bound(kLatencyBoundsSeconds[b]) : "+Inf";
    out += name + "_bucket{" + labels + sep + "le=\"" + le + "\"} " + std::to_string(cumulative) +
           "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.9f", h.sum_seconds());
  out += name + "_sum" + braces + " " + sum + "\n";
  out += name + "_count" + braces + " " + std::to_string(cumulative) + "\n";
}

}  // namespace

NodeStats empty_node_stats() {
  NodeStats s;
  for (ForwardError e : kForwardErrors) {
    if (e != ForwardError::kNotOwner) s.forward_duration.emplace(to_string(e), LatencyHistogram{});
  }
  for (int e = 1; e < proto::kDecodeErrorCount; ++e) {
    s.drops.emplace(proto::to_string(static_cast<proto::DecodeError>(e)), 0);
  }
  for (int st = 0; st < membership::kStatusCount; ++st) {
    s.members.emplace(membership::to_string(static_cast<membership::Status>(st)), 0);
  }
  return s;
}

std::vector<Metric> collect_metrics(const NodeStats& s) {
  std::vector<Metric> out;
#define SHOAL_NODE_COUNTER(name, help) out.push_back(single(#name, Kind::kCounter, help, s.name));
  SHOAL_NODE_COUNTERS(SHOAL_NODE_COUNTER)
  SHOAL_FORWARD_COUNTERS(SHOAL_NODE_COUNTER)
#undef SHOAL_NODE_COUNTER
#define SHOAL_NODE_COUNTER(name, help) \
  out.push_back(single(#name, Kind::kCounter, help, s.protocol.name));
  SHOAL_MEMBERSHIP_COUNTERS(SHOAL_NODE_COUNTER)
#undef SHOAL_NODE_COUNTER
  out.push_back(family("drops", Kind::kCounter,
                       "Datagrams and frames dropped, by reason (proto::DecodeError).", "reason",
                       s.drops));
  out.push_back(family("members", Kind::kGauge, "Known members, by status.", "status", s.members));
#define SHOAL_NODE_GAUGE(name, help) out.push_back(single(#name, Kind::kGauge, help, s.name));
  SHOAL_NODE_GAUGES(SHOAL_NODE_GAUGE)
#undef SHOAL_NODE_GAUGE
  return out;
}

std::string render_stats_json(const NodeStats& s) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const Metric& m : collect_metrics(s)) {
    if (m.label.empty()) {
      j[std::string(m.name)] = m.values.front().second;
      continue;
    }
    nlohmann::ordered_json values = nlohmann::ordered_json::object();
    for (const auto& [label, v] : m.values) values[label] = v;
    j[std::string(m.name)] = std::move(values);
  }
  auto summary = [](const LatencyHistogram& h) {
    return nlohmann::ordered_json{
        {"count", h.count}, {"p50_ms", h.quantile(0.5) * 1e3}, {"p99_ms", h.quantile(0.99) * 1e3}};
  };
  nlohmann::ordered_json latency = nlohmann::ordered_json::object();
  for (const auto& [outcome, h] : s.forward_duration) {
    latency["forward_duration." + outcome] = summary(h);
  }
  latency["handler_duration"] = summary(s.handler_duration);
  latency["handler_queue_wait"] = summary(s.handler_queue_wait);
  j["latency"] = std::move(latency);
  return j.dump();
}

std::string render_prometheus(const NodeStats& s) {
  std::string out;
  for (const Metric& m : collect_metrics(s)) {
    const std::string name = prometheus_name(m);
    out += "# HELP " + name + " " + std::string(m.help) + "\n";
    out += "# TYPE " + name + (m.kind == Kind::kCounter ? " counter\n" : " gauge\n");
    for (const auto& [label, v] : m.values) {
      out += name;
      if (!m.label.empty()) out += "{" + std::string(m.label) + "=\"" + label + "\"}";
      out += " " + std::to_string(v) + "\n";
    }
  }
  out +=
      "# HELP shoal_forward_duration_seconds handle_or_forward calls from start to their one "
      "result, by outcome.\n# TYPE shoal_forward_duration_seconds histogram\n";
  for (const auto& [outcome, h] : s.forward_duration) {
    append_histogram(out, "shoal_forward_duration_seconds", "outcome=\"" + outcome + "\"", h);
  }
  out +=
      "# HELP shoal_handler_duration_seconds Handler runs from start to answer.\n"
      "# TYPE shoal_handler_duration_seconds histogram\n";
  append_histogram(out, "shoal_handler_duration_seconds", "", s.handler_duration);
  out +=
      "# HELP shoal_handler_queue_wait_seconds How long requests waited for a handler "
      "thread.\n# TYPE shoal_handler_queue_wait_seconds histogram\n";
  append_histogram(out, "shoal_handler_queue_wait_seconds", "", s.handler_queue_wait);
  return out;
}

std::string render_counters_markdown() {
  // Labels as the node fills them: every reason and status, from the enums.
  NodeStats zero = empty_node_stats();
  std::string out =
      "| `shoal stats` | Prometheus | kind | meaning |\n"
      "|---|---|---|---|\n";
  for (const Metric& m : collect_metrics(zero)) {
    std::string stats_name = "`" + std::string(m.name) + "`";
    std::string prom = "`" + prometheus_name(m) + "`";
    if (!m.label.empty()) {
      std::string labels;
      for (const auto& [label, v] : m.values) labels += (labels.empty() ? "" : ",") + label;
      stats_name = "`" + std::string(m.name) + ".{" + labels + "}`";
      prom = "`" + prometheus_name(m) + "{" + std::string(m.label) + "}`";
    }
    out += "| " + stats_name + " | " + prom + " | " +
           (m.kind == Kind::kCounter ? "counter" : "gauge") + " | " + std::string(m.help) + " |\n";
  }
  out +=
      "| `latency.forward_duration.{outcome}` | `shoal_forward_duration_seconds{outcome}` | "
      "histogram | handle_or_forward calls from start to their one result, by outcome; "
      "`shoal stats`: count, p50_ms, p99_ms. |\n"
      "| `latency.handler_duration` | `shoal_handler_duration_seconds` | histogram | Handler "
      "runs from start to answer. |\n"
      "| `latency.handler_queue_wait` | `shoal_handler_queue_wait_seconds` | histogram | How "
      "long requests waited for a handler thread. |\n";
  return out;
}

}  // namespace shoal::node
