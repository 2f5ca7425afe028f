// Copyright shoal authors. The admin commands of app gossip (admin.h):
//
//   broadcast {name, payload?}                 Node::broadcast
//   event {name, payload?, coalesce?}          Node::event
//   query {name, payload?, names?: [..], labels?: {K: V}, ack?, timeout_ms?}
//                                              Node::query; answered when
//                                              the query's timeout ends it:
//                                              {acks: [{member}], responses:
//                                              [{member, payload}], ...}
//   app-events {since?, epoch?}                the broadcasts, events and
//                                              queries this node delivered,
//                                              as `events` gives member
//                                              events (shoal watch --events)

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "shoal/node/admin.h"
#include "shoal/node/admin_log.h"

namespace shoal::node {

namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool has_string(const json& args, const char* key) {
  return args.contains(key) && args[key].is_string();
}

std::string payload_of(const json& args) {
  return has_string(args, "payload") ? args["payload"].get<std::string>() : "";
}

// names: [..] and labels: {K: V} into `spec`; "" or what is wrong.
std::string query_filter(const json& args, membership::QuerySpec& spec) {
  if (args.contains("names")) {
    if (!args["names"].is_array()) return "query: 'names' must be an array of member names";
    for (const json& n : args["names"]) {
      if (!n.is_string()) return "query: 'names' must be an array of member names";
      spec.names.push_back(n.get<std::string>());
    }
  }
  if (args.contains("labels")) {
    if (!args["labels"].is_object()) return "query: 'labels' must be an object of strings";
    for (auto it = args["labels"].begin(); it != args["labels"].end(); ++it) {
      if (!it.value().is_string()) return "query: label '" + it.key() + "' is not a string";
      spec.labels[it.key()] = it.value().get<std::string>();
    }
  }
  if (args.contains("timeout_ms")) {
    if (!args["timeout_ms"].is_number_unsigned() || args["timeout_ms"].get<uint64_t>() == 0) {
      return "query: 'timeout_ms' must be a number > 0";
    }
    spec.timeout =
        std::chrono::milliseconds(std::min<uint64_t>(args["timeout_ms"].get<uint64_t>(), 600000));
  }
  if (args.contains("ack")) {
    if (!args["ack"].is_boolean()) return "query: 'ack' must be true or false";
    spec.want_ack = args["ack"].get<bool>();
  }
  return {};
}

json app_json(uint64_t seq, const AppMessage& m) {
  json j = {{"seq", seq},
            {"kind", std::string(membership::to_string(m.kind))},
            {"origin", m.origin},
            {"name", m.name},
            {"payload", m.payload}};
  if (m.kind != membership::AppKind::kBroadcast) j["lamport"] = m.seq;
  if (m.kind == membership::AppKind::kEvent) j["coalesce"] = m.coalesce;
  return j;
}

}  // namespace

proto::AdminResponse Admin::app_send(const std::string& command, const json& args) {
  if (!has_string(args, "name")) return {"", command + ": needs a string 'name'"};
  const std::string name = args["name"].get<std::string>();
  std::string why;
  if (command == "broadcast") {
    why = engine_.broadcast(name, payload_of(args), hooks_.now());
  } else {
    if (args.contains("coalesce") && !args["coalesce"].is_boolean()) {
      return {"", "event: 'coalesce' must be true or false"};
    }
    const bool coalesce = args.contains("coalesce") && args["coalesce"].get<bool>();
    why = engine_.event(name, payload_of(args), coalesce, hooks_.now());
  }
  if (!why.empty()) return {"", why};
  return {dump({{"name", name}, {"sent", true}}), ""};
}

void Admin::app_query(const json& args, Reply reply) {
  if (!has_string(args, "name")) return reply({"", "query: needs a string 'name'"});
  membership::QuerySpec spec;
  spec.name = args["name"].get<std::string>();
  spec.payload = payload_of(args);
  if (std::string why = query_filter(args, spec); !why.empty()) return reply({"", why});
  auto acks = std::make_shared<json>(json::array());
  auto responses = std::make_shared<json>(json::array());
  auto on = [reply, acks, responses, name = spec.name](const membership::AppOutput& out) {
    if (out.what == membership::AppOutput::What::kQueryEnd) {
      return reply({dump({{"name", name},
                          {"acks", *acks},
                          {"responses", *responses},
                          {"ack_count", acks->size()},
                          {"response_count", responses->size()}}),
                    ""});
    }
    if (out.ack) {
      acks->push_back({{"member", out.from}});
    } else {
      responses->push_back({{"member", out.from}, {"payload", out.payload}});
    }
  };
  uint64_t id = 0;
  if (std::string why = engine_.query(std::move(spec), on, hooks_.now(), id); !why.empty()) {
    return reply({"", why});
  }
}

proto::AdminResponse Admin::app_events(const json& args) const {
  const auto& log = engine_.app().log();
  AdminLog view{engine_.app().last_seq(), engine_.core().config().incarnation, log.size(),
                [&log](size_t i) { return log[i].seq; },
                [&log](size_t i) { return app_json(log[i].seq, log[i].message); }};
  return log_answer("app-events", args, view, kEventsPerAnswer);
}

}  // namespace shoal::node
