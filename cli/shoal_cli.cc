// Copyright shoal authors. See shoal_cli.h: the CLI's shared context and
// calls, `watch`, and the app gossip commands (event, broadcast, query).

#include "shoal/cli/shoal_cli.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <utility>

#include "shoal/cli/key_value.h"
#include "shoal/node/admin_client.h"

namespace shoal::cli {

using nlohmann::json;

int fail(const std::string& msg) {
  std::fprintf(stderr, "shoal: %s\n", msg.c_str());
  return 1;
}

std::optional<json> call(const Ctx& c, const std::string& node, const std::string& command,
                         const json& args, std::string* error, int timeout_ms) {
  auto r =
      shoal::node::admin_call(node, c.cluster, command, args.dump(),
                              std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : c.timeout_ms),
                              c.keyring ? &*c.keyring : nullptr);
  if (!r.ok) {
    *error = printable(node + ": " + r.error);
    return std::nullopt;
  }
  auto j = json::parse(r.json, nullptr, false);
  if (j.is_discarded()) {
    *error = printable(node) + ": answer is not JSON";
    return std::nullopt;
  }
  return j;
}

int print(const Printed& p) {
  std::fputs(p.out.c_str(), stdout);
  std::fputs(p.err.c_str(), stderr);
  return p.status;
}

std::string now_text() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms.count() % 1000));
  return out;
}

namespace {

// "<when>  event deploy from NODE (lamport 12): PAYLOAD"
std::string app_event_line(const std::string& when, const json& e) {
  std::string line = when + "  " + get<std::string>(e, "kind") + " " +
                     printable(get<std::string>(e, "name")) + " from " +
                     printable(get<std::string>(e, "origin"));
  if (e.contains("lamport"))
    line += " (lamport " + std::to_string(get<uint64_t>(e, "lamport")) + ")";
  return line + ": " + printable(get<std::string>(e, "payload"));
}

// "2s", "500ms", "1.5s", "2m" as milliseconds; nullopt if not one.
std::optional<uint64_t> duration_ms(const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    return std::nullopt;
  }
  const std::string unit = text.substr(used);
  double scale = 0;
  if (unit == "ms") scale = 1;
  if (unit == "s") scale = 1000;
  if (unit == "m") scale = 60000;
  if (scale == 0 || !(v > 0) || v * scale > 600000) return std::nullopt;
  return static_cast<uint64_t>(v * scale + 0.5);
}

}  // namespace

// Asks for the events after the last one seen, every interval, and prints
// them; `seconds` > 0 bounds the run (scripts, tests).
int cmd_watch(const Ctx& c, int interval_ms, int seconds, bool app) {
  const char* command = app ? "app-events" : "events";
  std::string err;
  auto first = call(c, c.node, command, json::object(), &err);
  if (!first) return fail(err);
  uint64_t next = get<uint64_t>(*first, "next");
  // The node's run: sent back each time, so that a restart is noticed even
  // when the new run already has more events than the cursor (nodes from
  // before epochs send none).
  std::optional<uint64_t> epoch;
  if (first->contains("epoch")) epoch = get<uint64_t>(*first, "epoch");
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  if (!c.json_out) std::printf("watching %s (Ctrl-C to stop)\n", printable(c.node).c_str());
  bool unreachable = false;
  std::fflush(stdout);
  while (seconds == 0 || std::chrono::steady_clock::now() < end) {
    json ask{{"since", next}};
    if (epoch) ask["epoch"] = *epoch;
    auto j = call(c, c.node, command, ask, &err);
    const std::string when = now_text();
    // Notes go to stderr with --json, so that stdout stays one event per line.
    FILE* notes = c.json_out ? stderr : stdout;
    if (!j) {
      // Down or restarting: say so once, and keep asking.
      if (!unreachable) std::fprintf(notes, "%s  ... no answer: %s\n", when.c_str(), err.c_str());
      unreachable = true;
      std::fflush(notes);
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      continue;
    }
    if (unreachable) std::fprintf(notes, "%s  ... answering again\n", when.c_str());
    unreachable = false;
    if (j->contains("restarted") && get<bool>(*j, "restarted")) {
      std::fprintf(notes, "%s  ... the node restarted: its events from the start\n", when.c_str());
    }
    if (const auto missed = get<uint64_t>(*j, "missed"); missed > 0) {
      std::fprintf(notes, "%s  ... %llu events missed (the node keeps the last %zu)\n",
                   when.c_str(), static_cast<unsigned long long>(missed), size_t{1024});
    }
    for (const auto& e : get<json>(*j, "events")) {
      if (c.json_out) {
        std::printf("%s\n", e.dump().c_str());
      } else {
        std::printf("%s\n", (app ? app_event_line(when, e) : event_line(when, e)).c_str());
      }
    }
    std::fflush(stdout);
    const uint64_t was = next;
    next = get<uint64_t>(*j, "next");
    if (j->contains("epoch")) epoch = get<uint64_t>(*j, "epoch");
    if (next == was) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  return 0;
}

void add_event(CLI::App& sub, AppArgs& a) {
  sub.add_option("NAME", a.name, "the event's name")->required();
  sub.add_option("PAYLOAD", a.payload, "its payload");
  sub.add_flag("--coalesce", a.coalesce, "of a burst with this name, deliver only the newest");
}

void add_broadcast(CLI::App& sub, AppArgs& a) {
  sub.add_option("NAME", a.name, "the broadcast's name")->required();
  sub.add_option("PAYLOAD", a.payload, "its payload");
}

void add_query(CLI::App& sub, AppArgs& a) {
  sub.add_option("NAME", a.name, "the query's name (built in: ping, version)")->required();
  sub.add_option("PAYLOAD", a.payload, "its payload");
  sub.add_option("--label", a.labels, "only members with label KEY=VALUE (repeatable)");
  sub.add_option("--member", a.names, "only this member (repeatable)");
  sub.add_option("--timeout", a.timeout,
                 "how long to collect answers, e.g. 2s, 500ms "
                 "(default: the cluster's, from its size)");
  sub.add_flag("--ack", a.ack, "members ack on receipt too");
}

int cmd_send(const Ctx& c, const std::string& command, const AppArgs& a) {
  json args = {{"name", a.name}, {"payload", a.payload}};
  if (command == "event") args["coalesce"] = a.coalesce;
  std::string err;
  auto j = call(c, c.node, command, args, &err);
  if (!j) return fail(err);
  if (c.json_out) {
    std::printf("%s\n", j->dump().c_str());
  } else {
    std::printf("%s %s sent\n", command.c_str(), printable(a.name).c_str());
  }
  return 0;
}

int cmd_query(const Ctx& c, const AppArgs& a) {
  json args = {{"name", a.name}, {"payload", a.payload}, {"ack", a.ack}};
  json labels = json::object();
  for (const std::string& l : a.labels) {
    auto kv = key_value(l);
    if (!kv) {
      std::fprintf(stderr, "shoal: query --label: '%s' is not KEY=VALUE\n", printable(l).c_str());
      return 2;
    }
    labels[kv->first] = kv->second;
  }
  if (!labels.empty()) args["labels"] = labels;
  if (!a.names.empty()) args["names"] = a.names;
  // The node answers when the query's timeout ends it: wait that long.
  int wait_ms = 60000;
  if (!a.timeout.empty()) {
    const auto ms = duration_ms(a.timeout);
    if (!ms) {
      std::fprintf(stderr,
                   "shoal: query --timeout: '%s' is not a duration like 2s or 500ms "
                   "(at most 10m)\n",
                   printable(a.timeout).c_str());
      return 2;
    }
    args["timeout_ms"] = *ms;
    wait_ms = static_cast<int>(*ms) + 5000;
  }
  if (c.timeout_given) wait_ms = std::max(wait_ms, c.timeout_ms);
  std::string err;
  auto j = call(c, c.node, "query", args, &err, wait_ms);
  if (!j) return fail(err);
  if (c.json_out) {
    std::printf("%s\n", j->dump().c_str());
    return 0;
  }
  for (const auto& r : get<json>(*j, "responses")) {
    std::printf("response from %s: %s\n", printable(get<std::string>(r, "member")).c_str(),
                printable(get<std::string>(r, "payload")).c_str());
  }
  for (const auto& r : get<json>(*j, "acks")) {
    std::printf("ack from %s\n", printable(get<std::string>(r, "member")).c_str());
  }
  std::printf("total acks: %zu, total responses: %zu\n", get<json>(*j, "acks").size(),
              get<json>(*j, "responses").size());
  return 0;
}

}  // namespace shoal::cli
