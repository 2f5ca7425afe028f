// shoal: query a running shoal cluster through any member.
//
//   shoal [--node HOST:PORT] [--cluster NAME] [--json] COMMAND
//     members [--status S] [--label K=V]
//                          every member: address, status, incarnation,
//                          labels (only those of status S, with label K=V;
//                          both repeatable)
//     watch [--seconds S] [--events]
//                          member changes as the node sees them, one line
//                          each, until interrupted (serf monitor); --events:
//                          user events, broadcasts and queries instead
//     event NAME [PAYLOAD] [--coalesce]
//                          a user event to every member (serf event)
//     broadcast NAME [PAYLOAD]
//                          the newest payload of NAME to every other member
//     query NAME [PAYLOAD] [--label K=V] [--member M] [--timeout 2s] [--ack]
//                          ask every member (matching the filter); print
//                          each response and the counts (serf query)
//     top [--once]         every member's view of every member, refreshed
//                          (ringpop-admin top); --once: print it once
//     version              this CLI's version and the node's
//     status               asks every alive member for its ring checksum:
//                          converged or not, and who disagrees
//     lookup KEY [-n N]    the owner(s) of KEY
//     forward KEY PAYLOAD [--endpoint E]
//                          send a request to KEY's owner (to endpoint E's
//                          handler): the response and which node handled it
//     request MEMBER PAYLOAD [--endpoint E]
//                          the same to the member named MEMBER
//     stats                the node's counters
//     counters             what each counter means (a Markdown table; no node
//                          is asked)
//     leave                make the node leave the cluster gracefully (it
//                          drains first)
//     force-leave NAME     mark a suspect or faulty member left at once,
//                          cluster-wide (refused for an alive one)
//     log-level [LEVEL]    the node's log level; set it at run time
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
#include "shoal/cli/key_value.h"
#include "shoal/cli/shoal_cli.h"
#include "shoal/node/admin_client.h"
#include "shoal/node/counters.h"
#include "shoal/node/keyring.h"
#include "shoal/node/version.h"

namespace {

using nlohmann::json;
using shoal::cli::call;
using shoal::cli::Ctx;
using shoal::cli::fail;
using shoal::cli::forward_text;
using shoal::cli::keys_text;
using shoal::cli::lookup_text;
using shoal::cli::members_text;
using shoal::cli::now_text;
using shoal::cli::print;
using shoal::cli::printable;
using shoal::cli::Printed;
using shoal::cli::simple_text;
using shoal::cli::StatusReport;

using shoal::cli::key_value;

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

// forward: to KEY's owner; request: to the member named TARGET.
int cmd_forward(const Ctx& c, const std::string& command, const std::string& target,
                const std::string& payload, const std::string& endpoint) {
  std::string err;
  json args{{command == "forward" ? "key" : "member", target}, {"payload", payload}};
  if (!endpoint.empty()) args["endpoint"] = endpoint;
  auto j = call(c, c.node, command, args, &err);
  if (!j) return fail(err);
  return print(forward_text(*j, c.json_out, command));
}

int cmd_simple(const Ctx& c, const std::string& command, json args = json::object()) {
  std::string err;
  auto j = call(c, c.node, command, args, &err);
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

// What the subcommands' options and arguments write into: it must outlive
// parsing. Only the parsed subcommand's fields are read.
struct Args {
  std::vector<std::string> status_filter;  // members --status
  std::vector<std::string> label_filter;   // members --label
  int watch_interval_ms = 250;
  int watch_seconds = 0;
  bool watch_events = false;  // watch --events: app events, not member changes
  shoal::cli::AppArgs app;    // event, broadcast, query
  int top_interval_ms = 1000;
  bool top_once = false;
  std::string lookup_key;
  size_t n = 1;  // lookup -n
  std::string forward_key;
  std::string payload;              // forward
  std::string endpoint;             // forward --endpoint
  std::vector<std::string> labels;  // labels set K=V... / labels unset K...
  std::string key;                  // keys install|use|remove KEY
  bool all = false;                 // keys ... --all
  std::string member;               // force-leave NAME
  std::string level;                // log-level [LEVEL]
};

void add_members(CLI::App& sub, Args& a) {
  sub.add_option("--status", a.status_filter, "only members of this status (repeatable)")
      ->check(CLI::IsMember({"alive", "suspect", "faulty", "leave"}));
  sub.add_option("--label", a.label_filter, "only members with label KEY=VALUE (repeatable)");
}

void add_watch(CLI::App& sub, Args& a) {
  sub.add_option("--seconds", a.watch_seconds, "stop after this long (0: never)")
      ->check(CLI::Range(0, 86400 * 365));
  sub.add_option("--interval-ms", a.watch_interval_ms, "how often to ask the node")
      ->check(CLI::Range(10, 60000));
  sub.add_flag("--events", a.watch_events,
               "user events, broadcasts and queries this node delivers, not member changes");
}

void add_top(CLI::App& sub, Args& a) {
  sub.add_flag("--once", a.top_once, "print once and exit");
  sub.add_option("--interval-ms", a.top_interval_ms, "refresh period")
      ->check(CLI::Range(100, 600000));
}

void add_lookup(CLI::App& sub, Args& a) {
  sub.add_option("KEY", a.lookup_key, "the key")->required();
  sub.add_option("-n", a.n, "distinct owners, clockwise")
      ->check(CLI::Range(size_t{1}, size_t{100000}));
}

void add_forward(CLI::App& sub, Args& a) {
  sub.add_option("KEY", a.forward_key, "the key")->required();
  sub.add_option("PAYLOAD", a.payload, "the request payload");
  sub.add_option("--endpoint", a.endpoint, "the endpoint whose handler runs it (default: \"\")");
}

void add_request(CLI::App& sub, Args& a) {
  sub.add_option("MEMBER", a.forward_key, "the member's name")->required();
  sub.add_option("PAYLOAD", a.payload, "the request payload");
  sub.add_option("--endpoint", a.endpoint, "the endpoint whose handler runs it (default: \"\")");
}

// keys: one of the rows under it is required.
void add_keys(CLI::App& sub, Args&) { sub.require_subcommand(1); }

// keys list: --all only; keys install|use|remove: KEY and --all.
void add_key_list(CLI::App& sub, Args& a) {
  sub.add_flag("--all", a.all, "on every alive or suspect member, reported per member");
}

void add_key_op(CLI::App& sub, Args& a) {
  sub.add_option("KEY", a.key, "the key, base64")->required();
  add_key_list(sub, a);
}

void add_labels_set(CLI::App& sub, Args& a) {
  sub.add_option("LABELS", a.labels, "KEY=VALUE ...")->required();
}

void add_labels_unset(CLI::App& sub, Args& a) {
  sub.add_option("KEYS", a.labels, "KEY ...")->required();
}

// What each row of kCommands runs: the command, given its options.
int run_members(const Ctx& c, const Args& a, const CLI::App&) {
  shoal::cli::MemberFilter filter;
  if (!member_filter(a.status_filter, a.label_filter, filter)) return 2;
  return cmd_members(c, filter);
}
int run_watch(const Ctx& c, const Args& a, const CLI::App&) {
  return shoal::cli::cmd_watch(c, a.watch_interval_ms, a.watch_seconds, a.watch_events);
}
void add_event(CLI::App& sub, Args& a) { shoal::cli::add_event(sub, a.app); }
void add_broadcast(CLI::App& sub, Args& a) { shoal::cli::add_broadcast(sub, a.app); }
void add_query(CLI::App& sub, Args& a) { shoal::cli::add_query(sub, a.app); }
int run_event(const Ctx& c, const Args& a, const CLI::App&) {
  return shoal::cli::cmd_send(c, "event", a.app);
}
int run_broadcast(const Ctx& c, const Args& a, const CLI::App&) {
  return shoal::cli::cmd_send(c, "broadcast", a.app);
}
int run_query(const Ctx& c, const Args& a, const CLI::App&) {
  return shoal::cli::cmd_query(c, a.app);
}
int run_top(const Ctx& c, const Args& a, const CLI::App&) {
  return cmd_top(c, a.top_once, a.top_interval_ms);
}
int run_version(const Ctx& c, const Args&, const CLI::App&) { return cmd_version(c); }
int run_status(const Ctx& c, const Args&, const CLI::App&) { return cmd_status(c); }
int run_lookup(const Ctx& c, const Args& a, const CLI::App&) {
  return cmd_lookup(c, a.lookup_key, a.n);
}
int run_forward(const Ctx& c, const Args& a, const CLI::App&) {
  return cmd_forward(c, "forward", a.forward_key, a.payload, a.endpoint);
}

int run_request(const Ctx& c, const Args& a, const CLI::App&) {
  return cmd_forward(c, "request", a.forward_key, a.payload, a.endpoint);
}
int run_stats(const Ctx& c, const Args&, const CLI::App&) { return cmd_simple(c, "stats"); }
int run_counters(const Ctx&, const Args&, const CLI::App&) {
  std::printf("%s", shoal::node::render_counters_markdown().c_str());
  return 0;
}
int run_leave(const Ctx& c, const Args&, const CLI::App&) { return cmd_simple(c, "leave"); }
void add_force_leave(CLI::App& sub, Args& a) {
  sub.add_option("NAME", a.member, "the suspect or faulty member")->required();
}
int run_force_leave(const Ctx& c, const Args& a, const CLI::App&) {
  return cmd_simple(c, "force-leave", json{{"name", a.member}});
}
void add_log_level(CLI::App& sub, Args& a) {
  sub.add_option("LEVEL", a.level, "the new level (default: show it)")
      ->check(
          CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}));
}
int run_log_level(const Ctx& c, const Args& a, const CLI::App&) {
  return cmd_simple(c, "log-level", a.level.empty() ? json::object() : json{{"level", a.level}});
}
int run_key_generate(const Ctx&, const Args&, const CLI::App&) {
  std::printf("%s\n", shoal::node::encode_key(shoal::node::generate_key()).c_str());
  return 0;
}
// keys list|install|use|remove: the subcommand's name is the operation.
int run_keys(const Ctx& c, const Args& a, const CLI::App& sub) {
  return cmd_keys(c, sub.get_name(), a.key, a.all);
}
// labels, labels set, labels unset.
int run_labels(const Ctx& c, const Args& a, const CLI::App& sub) {
  const std::string op = sub.get_name() == "labels" ? "show" : sub.get_name();
  return cmd_labels(c, op, a.labels);
}

// How a subcommand adds its options (into `Args`), and how it runs once
// parsed: its exit status.
using AddOptions = void (*)(CLI::App& sub, Args& a);
using Run = int (*)(const Ctx& c, const Args& a, const CLI::App& sub);

// A subcommand of `shoal`, or (`under`) of another row's subcommand.
struct Command {
  const char* under = nullptr;  // the name of the row it is under; nullptr: of `shoal`
  const char* name = nullptr;
  const char* about = nullptr;  // its line in --help
  AddOptions add = nullptr;     // nullptr: no options
  Run run = nullptr;            // nullptr: not run itself (it requires one under it)
  bool local = false;           // asks no node: runs before the keyring is read
  bool fallthrough = true;      // global flags accepted after it too
};

// Every subcommand, one row each: the table registers them with CLI11 (in
// this order: --help lists them so) and dispatches to the one parsed. A
// row under another comes after it.
constexpr Command kCommands[] = {
    {.name = "members",
     .about = "every member and its state",
     .add = add_members,
     .run = run_members},
    {.name = "watch",
     .about = "print member changes as they happen",
     .add = add_watch,
     .run = run_watch},
    {.name = "top",
     .about = "every member's view of every member, refreshed",
     .add = add_top,
     .run = run_top},
    {.name = "version", .about = "this CLI's version and the node's", .run = run_version},
    {.name = "status", .about = "has the cluster converged?", .run = run_status},
    {.name = "lookup", .about = "the owner(s) of a key", .add = add_lookup, .run = run_lookup},
    {.name = "forward",
     .about = "send a request to the key's owner",
     .add = add_forward,
     .run = run_forward},
    {.name = "request",
     .about = "send a request to a member by name",
     .add = add_request,
     .run = run_request},
    {.name = "event",
     .about = "send a user event to every member",
     .add = add_event,
     .run = run_event},
    {.name = "broadcast",
     .about = "broadcast a named payload to every other member",
     .add = add_broadcast,
     .run = run_broadcast},
    {.name = "query",
     .about = "ask every member (or those with a label) and print the answers",
     .add = add_query,
     .run = run_query},
    {.name = "stats", .about = "the node's counters", .run = run_stats},
    {.name = "counters",
     .about = "what each counter means (no node asked)",
     .run = run_counters,
     .local = true,
     .fallthrough = false},
    {.name = "leave", .about = "make the node leave gracefully", .run = run_leave},
    {.name = "force-leave",
     .about = "mark a suspect or faulty member left, cluster-wide",
     .add = add_force_leave,
     .run = run_force_leave},
    {.name = "log-level",
     .about = "the node's log level; set it",
     .add = add_log_level,
     .run = run_log_level},
    {.name = "keys", .about = "the cluster keyring", .add = add_keys},
    {.under = "keys",
     .name = "generate",
     .about = "print a new random key (no node asked)",
     .run = run_key_generate,
     .local = true},
    {.under = "keys",
     .name = "list",
     .about = "the key ids and the primary",
     .add = add_key_list,
     .run = run_keys},
    {.under = "keys",
     .name = "install",
     .about = "install KEY (base64) on the node",
     .add = add_key_op,
     .run = run_keys},
    {.under = "keys",
     .name = "use",
     .about = "use KEY (base64) on the node",
     .add = add_key_op,
     .run = run_keys},
    {.under = "keys",
     .name = "remove",
     .about = "remove KEY (base64) on the node",
     .add = add_key_op,
     .run = run_keys},
    {.name = "labels", .about = "the node's labels; set or unset them", .run = run_labels},
    {.under = "labels",
     .name = "set",
     .about = "set labels KEY=VALUE (merged with the others)",
     .add = add_labels_set,
     .run = run_labels},
    {.under = "labels",
     .name = "unset",
     .about = "remove labels by name",
     .add = add_labels_unset,
     .run = run_labels},
};

// Adds every row of kCommands; the subcommand of each, in the table's
// order. `a` must outlive parsing: the options write into it.
std::vector<CLI::App*> add_commands(CLI::App& app, Args& a) {
  std::vector<CLI::App*> subs;
  for (const Command& row : kCommands) {
    CLI::App* parent = row.under == nullptr ? &app : app.get_subcommand(row.under);
    CLI::App* sub = parent->add_subcommand(row.name, row.about);
    // Before the options and the rows under it (which inherit it).
    sub->fallthrough(row.fallthrough);
    if (row.add != nullptr) row.add(*sub, a);
    subs.push_back(sub);
  }
  return subs;
}

// The options every subcommand shares. `c` must outlive parsing.
void add_global_options(CLI::App& app, Ctx& c) {
  app.add_option("--node", c.node, "member to ask (host:port)")->capture_default_str();
  app.add_option("--cluster", c.cluster, "cluster name")->capture_default_str();
  app.add_option("--timeout-ms", c.timeout_ms, "per request")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str()
      ->each([&c](const std::string&) { c.timeout_given = true; });
  app.add_flag("--json", c.json_out, "machine-readable output");
  if (const char* env = std::getenv("SHOAL_KEYRING_FILE")) c.keyring_file = env;
  app.add_option("--keyring-file", c.keyring_file,
                 "keyring whose primary key seals admin requests (default: $SHOAL_KEYRING_FILE)");
}

// Reads c.keyring_file, if one is given, into c.keyring; false (after
// saying why) if it cannot be read.
bool load_keyring(Ctx& c) {
  if (c.keyring_file.empty()) return true;
  std::string why;
  c.keyring = shoal::node::load_keyring_file(c.keyring_file, &why);
  if (!c.keyring) {
    std::fprintf(stderr, "shoal: %s\n", why.c_str());
    return false;
  }
  return true;
}

// Runs the parsed command: the last row whose subcommand was parsed (a row
// under another comes after it). Its exit status.
int run_parsed(Ctx& c, const Args& a, const std::vector<CLI::App*>& subs) {
  for (size_t i = subs.size(); i-- > 0;) {
    const Command& row = kCommands[i];
    if (!subs[i]->parsed()) continue;
    if (row.run == nullptr) return 2;
    if (row.local) return row.run(c, a, *subs[i]);
    if (!load_keyring(c)) return 2;
    // A node's answer is input like any other: a missing field or a wrong
    // type is reported, never undefined behaviour.
    try {
      return row.run(c, a, *subs[i]);
    } catch (const std::exception& e) {
      return fail(printable(c.node) + ": malformed answer: " + e.what());
    }
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Ctx c;
  Args a;
  CLI::App app{"shoal: query a shoal cluster"};
  app.require_subcommand(1);
  add_global_options(app, c);
  const std::vector<CLI::App*> subs = add_commands(app, a);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return run_parsed(c, a, subs);
}
