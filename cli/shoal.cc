// shoal: query a running shoal cluster through any member.
//
//   shoal [--node HOST:PORT] [--cluster NAME] [--json] COMMAND
//     members [--status S] [--label K=V]
//                          every member: address, status, incarnation,
//                          labels (only those of status S, with label K=V;
//                          both repeatable)
//     watch [--seconds S]  member changes as the node sees them, one line
//                          each, until interrupted (serf monitor)
//     top [--once]         every member's view of every member, refreshed
//                          (ringpop-admin top); --once: print it once
//     version              this CLI's version and the node's
//     status               asks every alive member for its ring checksum:
//                          converged or not, and who disagrees
//     lookup KEY [-n N]    the owner(s) of KEY
//     forward KEY PAYLOAD  send a request to KEY's owner: the response and
//                          which node handled it
//     stats                the node's counters
//     counters             what each counter means (a Markdown table; no node
//                          is asked)
//     leave                make the node leave the cluster gracefully (it
//                          drains first)
//     labels [set K=V...|unset K...]
//                          the node's labels, or change them (gossiped with
//                          a new incarnation, at most 512 bytes)
//     keys generate        print a new random key (base64)
//     keys list|install KEY|use KEY|remove KEY [--all]
//                          the node's keyring (with --all: every alive or
//                          suspect member's, reported per member)
//
// A node with a keyring takes admin requests sealed with one of its keys:
// give the CLI a keyring file with --keyring-file or SHOAL_KEYRING_FILE
// (its primary key seals the requests).
//
// Exit status: 0 ok; 1 the node is unreachable or answered an error (or,
// for status, the cluster has not converged); 2 bad arguments.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "shoal/cli/answer_format.h"
#include "shoal/node/admin_client.h"
#include "shoal/node/counters.h"
#include "shoal/node/keyring.h"
#include "shoal/node/version.h"

namespace {

using nlohmann::json;
using shoal::cli::forward_text;
using shoal::cli::keys_text;
using shoal::cli::lookup_text;
using shoal::cli::members_text;
using shoal::cli::printable;
using shoal::cli::Printed;
using shoal::cli::simple_text;
using shoal::cli::StatusReport;

struct Ctx {
  std::string node = "127.0.0.1:7000";
  std::string cluster = "shoal";
  bool json_out = false;
  int timeout_ms = 3000;
  std::string keyring_file;
  std::optional<shoal::node::Keyring> keyring;  // loaded from keyring_file
};

int fail(const std::string& msg) {
  std::fprintf(stderr, "shoal: %s\n", msg.c_str());
  return 1;
}

std::optional<json> call(const Ctx& c, const std::string& node, const std::string& command,
                         const json& args, std::string* error) {
  auto r = shoal::node::admin_call(node, c.cluster, command, args.dump(),
                                   std::chrono::milliseconds(c.timeout_ms),
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

// Prints what a command's answer formats to; its exit status.
int print(const Printed& p) {
  std::fputs(p.out.c_str(), stdout);
  std::fputs(p.err.c_str(), stderr);
  return p.status;
}

// "K=V" as {K, V}; nullopt without '=' or with an empty K.
std::optional<std::pair<std::string, std::string>> key_value(const std::string& item) {
  const size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0) return std::nullopt;
  return std::pair(item.substr(0, eq), item.substr(eq + 1));
}

// --status S and --label K=V as a filter; false (after saying why) if a
// label is not K=V.
bool member_filter(const std::vector<std::string>& statuses, const std::vector<std::string>& labels,
                   shoal::cli::MemberFilter& f) {
  f.statuses = statuses;
  for (const std::string& l : labels) {
    auto kv = key_value(l);
    if (!kv) {
      std::fprintf(stderr, "shoal: members --label: '%s' is not KEY=VALUE\n", printable(l).c_str());
      return false;
    }
    f.labels.push_back(std::move(*kv));
  }
  return true;
}

int cmd_members(const Ctx& c, const shoal::cli::MemberFilter& filter) {
  std::string err;
  auto j = call(c, c.node, "members", json::object(), &err);
  if (!j) return fail(err);
  return print(members_text(*j, c.json_out, filter));
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

// Asks for the events after the last one seen, every interval, and prints
// them; `seconds` > 0 bounds the run (scripts, tests).
int cmd_watch(const Ctx& c, int interval_ms, int seconds) {
  std::string err;
  auto first = call(c, c.node, "events", json::object(), &err);
  if (!first) return fail(err);
  uint64_t next = shoal::cli::get<uint64_t>(*first, "next");
  // The node's run: sent back each time, so that a restart is noticed even
  // when the new run already has more events than the cursor (nodes from
  // before epochs send none).
  std::optional<uint64_t> epoch;
  if (first->contains("epoch")) epoch = shoal::cli::get<uint64_t>(*first, "epoch");
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  if (!c.json_out) std::printf("watching %s (Ctrl-C to stop)\n", printable(c.node).c_str());
  bool unreachable = false;
  std::fflush(stdout);
  while (seconds == 0 || std::chrono::steady_clock::now() < end) {
    json ask{{"since", next}};
    if (epoch) ask["epoch"] = *epoch;
    auto j = call(c, c.node, "events", ask, &err);
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
    if (j->contains("restarted") && shoal::cli::get<bool>(*j, "restarted")) {
      std::fprintf(notes, "%s  ... the node restarted: its events from the start\n", when.c_str());
    }
    if (const auto missed = shoal::cli::get<uint64_t>(*j, "missed"); missed > 0) {
      std::fprintf(notes, "%s  ... %llu events missed (the node keeps the last %zu)\n",
                   when.c_str(), static_cast<unsigned long long>(missed), size_t{1024});
    }
    for (const auto& e : shoal::cli::get<json>(*j, "events")) {
      if (c.json_out) {
        std::printf("%s\n", e.dump().c_str());
      } else {
        std::printf("%s\n", shoal::cli::event_line(when, e).c_str());
      }
    }
    std::fflush(stdout);
    const uint64_t was = next;
    next = shoal::cli::get<uint64_t>(*j, "next");
    if (j->contains("epoch")) epoch = shoal::cli::get<uint64_t>(*j, "epoch");
    if (next == was) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  return 0;
}

// Asks every member `c.node` knows for its members; prints the matrix,
// once or every interval until interrupted.
int cmd_top(const Ctx& c, bool once, int interval_ms) {
  for (;;) {
    std::string err;
    auto members = call(c, c.node, "members", json::object(), &err);
    if (!members) return fail(err);
    std::vector<std::string> asked = shoal::cli::alive_members(*members);
    std::vector<std::optional<json>> answers(asked.size());
    for (size_t i = 0; i < asked.size(); ++i) {
      std::string e;
      answers[i] = call(c, asked[i], "members", json::object(), &e);
    }
    std::vector<std::pair<std::string, const json*>> views;
    for (size_t i = 0; i < asked.size(); ++i) {
      views.emplace_back(asked[i], answers[i] ? &*answers[i] : nullptr);
    }
    shoal::cli::Printed p = shoal::cli::top_text(views, c.json_out);
    if (!once) std::fputs("\033[H\033[2J", stdout);  // home, clear
    if (!once && !c.json_out)
      std::printf("shoal top  %s  via %s\n", now_text().c_str(), printable(c.node).c_str());
    print(p);
    std::fflush(stdout);
    if (once) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
}

// "1.1": a version and minor, or "unknown" if the answer has neither.
std::string protocol_text(const json& status) {
  if (!status.contains("protocol")) return "unknown";
  std::string out = std::to_string(shoal::cli::get<uint32_t>(status, "protocol"));
  if (status.contains("protocol_minor")) {
    out += "." + std::to_string(shoal::cli::get<uint32_t>(status, "protocol_minor"));
  }
  return out;
}

int cmd_version(const Ctx& c) {
  const std::string mine = std::string(shoal::version());
  const std::string my_protocol =
      std::to_string(shoal::protocol_version()) + "." + std::to_string(shoal::protocol_minor());
  std::string err;
  auto j = call(c, c.node, "status", json::object(), &err);
  if (c.json_out) {
    json out = {{"cli", {{"version", mine}, {"protocol", my_protocol}}}};
    out["node"] =
        j ? json{{"address", c.node},
                 {"version", j->contains("version") ? shoal::cli::str(*j, "version") : "unknown"},
                 {"protocol", protocol_text(*j)}}
          : json{{"address", c.node}, {"error", err}};
    std::printf("%s\n", out.dump(2).c_str());
    return j ? 0 : 1;
  }
  std::printf("shoal %s (protocol %s)\n", mine.c_str(), my_protocol.c_str());
  if (!j) return fail(err);
  // Nodes before the version field answered without it.
  const std::string theirs = j->contains("version") ? shoal::cli::str(*j, "version") : "unknown";
  std::printf("node %s: shoal %s (protocol %s)\n", printable(c.node).c_str(), theirs.c_str(),
              protocol_text(*j).c_str());
  return 0;
}

int cmd_status(const Ctx& c) {
  std::string err;
  auto members = call(c, c.node, "members", json::object(), &err);
  if (!members) return fail(err);
  StatusReport report;
  for (const std::string& address : shoal::cli::alive_members(*members)) {
    std::string e;
    auto s = call(c, address, "status", json::object(), &e);
    if (s) {
      report.add(address, *s);
    } else {
      report.unreachable(address, e);
    }
  }
  return print(report.printed(c.json_out));
}

int cmd_lookup(const Ctx& c, const std::string& key, size_t n) {
  std::string err;
  auto j = call(c, c.node, "lookup", json{{"key", key}, {"n", n}}, &err);
  if (!j) return fail(err);
  return print(lookup_text(key, *j, c.json_out));
}

int cmd_forward(const Ctx& c, const std::string& key, const std::string& payload) {
  std::string err;
  auto j = call(c, c.node, "forward", json{{"key", key}, {"payload", payload}}, &err);
  if (!j) return fail(err);
  return print(forward_text(*j, c.json_out));
}

int cmd_simple(const Ctx& c, const std::string& command) {
  std::string err;
  auto j = call(c, c.node, command, json::object(), &err);
  if (!j) return fail(err);
  return print(simple_text(*j, c.json_out));
}

// The alive and suspect members `c.node` knows (itself included): a key
// change must reach every member that may still be running.
std::vector<std::string> alive_members(const Ctx& c, std::string* err) {
  auto members = call(c, c.node, "members", json::object(), err);
  if (!members) return {};
  return shoal::cli::alive_members(*members);
}

// labels, labels set K=V..., labels unset K...
int cmd_labels(const Ctx& c, const std::string& op, const std::vector<std::string>& items) {
  json args = json::object();
  if (op == "set") {
    json set = json::object();
    for (const std::string& item : items) {
      auto kv = key_value(item);
      if (!kv) {
        std::fprintf(stderr, "shoal: labels set: '%s' is not KEY=VALUE\n", printable(item).c_str());
        return 2;
      }
      set[kv->first] = kv->second;
    }
    args["set"] = set;
  } else if (op == "unset") {
    args["unset"] = items;
  }
  std::string err;
  auto j = call(c, c.node, "labels", args, &err);
  if (!j) return fail(err);
  return print(shoal::cli::labels_answer_text(*j, c.json_out));
}

// keys list|install|use|remove on the node, or (--all) on every alive
// member, one line per member.
int cmd_keys(const Ctx& c, const std::string& op, const std::string& key, bool all) {
  json args = json::object();
  if (op != "list") {
    std::string why;
    if (!shoal::node::decode_key(key, &why)) return fail("keys " + op + ": " + why);
    args["key"] = key;
  }
  std::vector<std::string> targets{c.node};
  std::string err;
  if (all) {
    targets = alive_members(c, &err);
    if (!err.empty()) return fail(err);
  }
  size_t failed = 0;
  json report = json::array();
  for (const std::string& node : targets) {
    auto j = call(c, node, "keys." + op, args, &err);
    if (!j) {
      ++failed;
      report.push_back({{"address", node}, {"ok", false}, {"error", err}});
      if (!c.json_out) std::printf("%-28s FAILED  %s\n", printable(node).c_str(), err.c_str());
      continue;
    }
    report.push_back({{"address", node}, {"ok", true}, {"keyring", *j}});
    if (!c.json_out) {
      std::printf("%-28s ok      %s\n", printable(node).c_str(), keys_text(*j).c_str());
    }
  }
  if (c.json_out) std::printf("%s\n", report.dump(2).c_str());
  if (all && !c.json_out) {
    std::printf("keys %s: %zu of %zu members ok\n", op.c_str(), targets.size() - failed,
                targets.size());
  }
  return failed == 0 ? 0 : 1;
}

// `shoal keys ...`: generate, and the four that ask nodes.
struct KeyCommands {
  CLI::App* generate = nullptr;
  std::vector<CLI::App*> ops;  // list, install, use, remove
  std::string key;
  bool all = false;
};

// `shoal labels [set K=V...|unset K...]`.
struct LabelCommands {
  CLI::App* show = nullptr;
  CLI::App* set = nullptr;
  CLI::App* unset = nullptr;
  std::vector<std::string> items;
};

void add_label_commands(CLI::App& app, LabelCommands& lc) {
  lc.show = app.add_subcommand("labels", "the node's labels; set or unset them");
  lc.show->fallthrough();
  lc.set = lc.show->add_subcommand("set", "set labels KEY=VALUE (merged with the others)");
  lc.set->add_option("LABELS", lc.items, "KEY=VALUE ...")->required();
  lc.unset = lc.show->add_subcommand("unset", "remove labels by name");
  lc.unset->add_option("KEYS", lc.items, "KEY ...")->required();
  lc.set->fallthrough();
  lc.unset->fallthrough();
}

// `kc` must outlive parsing: the options write into it.
void add_key_commands(CLI::App& app, KeyCommands& kc) {
  auto* keys = app.add_subcommand("keys", "the cluster keyring");
  keys->require_subcommand(1);
  keys->fallthrough();
  kc.generate = keys->add_subcommand("generate", "print a new random key (no node asked)");
  for (const std::string op : {"list", "install", "use", "remove"}) {
    auto* k = keys->add_subcommand(
        op, op == "list" ? "the key ids and the primary" : op + " KEY (base64) on the node");
    if (op != "list") k->add_option("KEY", kc.key, "the key, base64")->required();
    k->add_flag("--all", kc.all, "on every alive or suspect member, reported per member");
    k->fallthrough();
    kc.ops.push_back(k);
  }
}

// `shoal members [--status S] [--label K=V]`, `shoal watch`, `shoal top`.
struct OperatorCommands {
  CLI::App* members = nullptr;
  CLI::App* watch = nullptr;
  CLI::App* top = nullptr;
  CLI::App* version = nullptr;
  std::vector<std::string> status_filter;
  std::vector<std::string> label_filter;
  int interval_ms = 250;
  int watch_seconds = 0;
  int top_interval_ms = 1000;
  bool top_once = false;
};

// `ops` must outlive parsing: the options write into it.
void add_operator_commands(CLI::App& app, OperatorCommands& ops) {
  ops.members = app.add_subcommand("members", "every member and its state");
  ops.members->add_option("--status", ops.status_filter, "only members of this status (repeatable)")
      ->check(CLI::IsMember({"alive", "suspect", "faulty", "leave"}));
  ops.members->add_option("--label", ops.label_filter,
                          "only members with label KEY=VALUE (repeatable)");
  ops.watch = app.add_subcommand("watch", "print member changes as they happen");
  ops.watch->add_option("--seconds", ops.watch_seconds, "stop after this long (0: never)")
      ->check(CLI::Range(0, 86400 * 365));
  ops.watch->add_option("--interval-ms", ops.interval_ms, "how often to ask the node")
      ->check(CLI::Range(10, 60000));
  ops.top = app.add_subcommand("top", "every member's view of every member, refreshed");
  ops.top->add_flag("--once", ops.top_once, "print once and exit");
  ops.top->add_option("--interval-ms", ops.top_interval_ms, "refresh period")
      ->check(CLI::Range(100, 600000));
  ops.version = app.add_subcommand("version", "this CLI's version and the node's");
  // Global flags are accepted after the subcommand too.
  for (auto* sub : {ops.members, ops.watch, ops.top, ops.version}) sub->fallthrough();
}

// The parsed one of `ops`' commands: its exit status; -1 if none was.
int run_operator_command(const Ctx& c, const OperatorCommands& ops) {
  if (ops.members->parsed()) {
    shoal::cli::MemberFilter filter;
    if (!member_filter(ops.status_filter, ops.label_filter, filter)) return 2;
    return cmd_members(c, filter);
  }
  if (ops.watch->parsed()) return cmd_watch(c, ops.interval_ms, ops.watch_seconds);
  if (ops.top->parsed()) return cmd_top(c, ops.top_once, ops.top_interval_ms);
  if (ops.version->parsed()) return cmd_version(c);
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Ctx c;
  CLI::App app{"shoal: query a shoal cluster"};
  app.require_subcommand(1);
  app.add_option("--node", c.node, "member to ask (host:port)")->capture_default_str();
  app.add_option("--cluster", c.cluster, "cluster name")->capture_default_str();
  app.add_option("--timeout-ms", c.timeout_ms, "per request")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  app.add_flag("--json", c.json_out, "machine-readable output");
  if (const char* env = std::getenv("SHOAL_KEYRING_FILE")) c.keyring_file = env;
  app.add_option("--keyring-file", c.keyring_file,
                 "keyring whose primary key seals admin requests (default: $SHOAL_KEYRING_FILE)");
  OperatorCommands ops;
  add_operator_commands(app, ops);
  auto* status = app.add_subcommand("status", "has the cluster converged?");
  std::string key;
  size_t n = 1;
  auto* lookup = app.add_subcommand("lookup", "the owner(s) of a key");
  lookup->add_option("KEY", key, "the key")->required();
  lookup->add_option("-n", n, "distinct owners, clockwise")
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  std::string fkey, fpayload;
  auto* forward = app.add_subcommand("forward", "send a request to the key's owner");
  forward->add_option("KEY", fkey, "the key")->required();
  forward->add_option("PAYLOAD", fpayload, "the request payload");
  auto* stats = app.add_subcommand("stats", "the node's counters");
  auto* counters = app.add_subcommand("counters", "what each counter means (no node asked)");
  auto* leave = app.add_subcommand("leave", "make the node leave gracefully");
  KeyCommands keys;
  add_key_commands(app, keys);
  LabelCommands labels;
  add_label_commands(app, labels);
  // Global flags are accepted after the subcommand too.
  for (auto* sub : {status, lookup, forward, stats, leave}) sub->fallthrough();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (keys.generate->parsed()) {
    std::printf("%s\n", shoal::node::encode_key(shoal::node::generate_key()).c_str());
    return 0;
  }
  if (counters->parsed()) {
    std::printf("%s", shoal::node::render_counters_markdown().c_str());
    return 0;
  }
  if (!c.keyring_file.empty()) {
    std::string why;
    c.keyring = shoal::node::load_keyring_file(c.keyring_file, &why);
    if (!c.keyring) {
      std::fprintf(stderr, "shoal: %s\n", why.c_str());
      return 2;
    }
  }
  // A node's answer is input like any other: a missing field or a wrong
  // type is reported, never undefined behaviour.
  try {
    if (int done = run_operator_command(c, ops); done >= 0) return done;
    if (status->parsed()) return cmd_status(c);
    if (lookup->parsed()) return cmd_lookup(c, key, n);
    if (forward->parsed()) return cmd_forward(c, fkey, fpayload);
    if (stats->parsed()) return cmd_simple(c, "stats");
    if (leave->parsed()) return cmd_simple(c, "leave");
    if (labels.show->parsed()) {
      const char* op = labels.set->parsed() ? "set" : labels.unset->parsed() ? "unset" : "show";
      return cmd_labels(c, op, labels.items);
    }
    for (auto* k : keys.ops) {
      if (k->parsed()) return cmd_keys(c, k->get_name(), keys.key, keys.all);
    }
  } catch (const std::exception& e) {
    return fail(printable(c.node) + ": malformed answer: " + e.what());
  }
  return 2;
}
