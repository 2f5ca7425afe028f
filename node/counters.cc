// Copyright shoal authors. The views of the counters table (counters.h).

#include "shoal/node/counters.h"

#include <nlohmann/json.hpp>

#include "shoal/membership/types.h"
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

std::string prometheus_name(const Metric& m) {
  std::string name = "shoal_" + std::string(m.name);
  if (m.kind == Kind::kCounter) name += "_total";
  return name;
}

}  // namespace

NodeStats empty_node_stats() {
  NodeStats s;
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
  return out;
}

}  // namespace shoal::node
