// shoal: query a running shoal cluster through any member.
//
//   shoal [--node HOST:PORT] [--cluster NAME] [--json] COMMAND
//     members              every member: address, status, incarnation, labels
//     status               asks every alive member for its ring checksum:
//                          converged or not, and who disagrees
//     lookup KEY [-n N]    the owner(s) of KEY
//     forward KEY PAYLOAD  send a request to KEY's owner: the response and
//                          which node handled it
//     stats                the node's counters
//     counters             what each counter means (a Markdown table; no node
//                          is asked)
//     leave                make the node leave the cluster gracefully
//
// Exit status: 0 ok; 1 the node is unreachable or answered an error (or,
// for status, the cluster has not converged); 2 bad arguments.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "node/admin_client.h"
#include "node/counters.h"

namespace {

using nlohmann::json;

struct Ctx {
  std::string node = "127.0.0.1:7000";
  std::string cluster = "shoal";
  bool json_out = false;
  int timeout_ms = 3000;
};

int fail(const std::string& msg) {
  std::fprintf(stderr, "shoal: %s\n", msg.c_str());
  return 1;
}

std::optional<json> call(const Ctx& c, const std::string& node, const std::string& command,
                         const json& args, std::string* error) {
  auto r = shoal::node::admin_call(node, c.cluster, command, args.dump(),
                                   std::chrono::milliseconds(c.timeout_ms));
  if (!r.ok) {
    *error = node + ": " + r.error;
    return std::nullopt;
  }
  auto j = json::parse(r.json, nullptr, false);
  if (j.is_discarded()) {
    *error = node + ": answer is not JSON";
    return std::nullopt;
  }
  return j;
}

std::string labels_text(const json& labels) {
  std::string out;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (!out.empty()) out += ",";
    out += it.key() + "=" + it.value().get<std::string>();
  }
  return out.empty() ? "-" : out;
}

int cmd_members(const Ctx& c) {
  std::string err;
  auto j = call(c, c.node, "members", json::object(), &err);
  if (!j) return fail(err);
  if (c.json_out) {
    std::printf("%s\n", j->dump(2).c_str());
    return 0;
  }
  std::printf("%-28s %-10s %-16s %s\n", "ADDRESS", "STATUS", "INCARNATION", "LABELS");
  for (const auto& m : *j) {
    std::printf("%-28s %-10s %-16llu %s\n", m["address"].get<std::string>().c_str(),
                m["status"].get<std::string>().c_str(),
                static_cast<unsigned long long>(m["incarnation"].get<uint64_t>()),
                labels_text(m["labels"]).c_str());
  }
  return 0;
}

int cmd_status(const Ctx& c) {
  std::string err;
  auto members = call(c, c.node, "members", json::object(), &err);
  if (!members) return fail(err);
  json nodes = json::array();
  std::map<uint64_t, std::vector<std::string>> by_checksum;
  size_t unreachable = 0;
  for (const auto& m : *members) {
    const std::string status = m["status"].get<std::string>();
    if (status != "alive" && status != "suspect") continue;
    const std::string address = m["address"].get<std::string>();
    std::string e;
    auto s = call(c, address, "status", json::object(), &e);
    if (!s) {
      ++unreachable;
      nodes.push_back({{"address", address}, {"reachable", false}, {"error", e}});
      continue;
    }
    const uint64_t checksum = (*s)["ring"]["checksum"].get<uint64_t>();
    by_checksum[checksum].push_back(address);
    nodes.push_back({{"address", address},
                     {"reachable", true},
                     {"ring_checksum", checksum},
                     {"ring_members", (*s)["ring"]["members"]},
                     {"incarnation", (*s)["incarnation"]},
                     {"health_score", (*s)["health_score"]}});
  }
  const bool converged = by_checksum.size() == 1 && unreachable == 0;
  // The majority checksum; the others disagree.
  uint64_t majority = 0;
  size_t best = 0;
  for (const auto& [sum, addrs] : by_checksum) {
    if (addrs.size() > best) {
      best = addrs.size();
      majority = sum;
    }
  }
  json disagree = json::array();
  for (const auto& [sum, addrs] : by_checksum) {
    if (sum != majority) {
      for (const auto& a : addrs) disagree.push_back(a);
    }
  }
  if (c.json_out) {
    std::printf("%s\n", json({{"converged", converged},
                              {"checksum", majority},
                              {"nodes", nodes},
                              {"disagree", disagree},
                              {"unreachable", unreachable}})
                            .dump(2)
                            .c_str());
  } else {
    std::printf("%-28s %-10s %-18s %s\n", "ADDRESS", "REACHABLE", "RING CHECKSUM", "RING MEMBERS");
    for (const auto& n : nodes) {
      if (!n["reachable"].get<bool>()) {
        std::printf("%-28s %-10s %s\n", n["address"].get<std::string>().c_str(), "no",
                    n["error"].get<std::string>().c_str());
        continue;
      }
      std::printf("%-28s %-10s %016llx   %zu\n", n["address"].get<std::string>().c_str(), "yes",
                  static_cast<unsigned long long>(n["ring_checksum"].get<uint64_t>()),
                  n["ring_members"].get<size_t>());
    }
    if (converged) {
      std::printf("converged: %zu members agree on ring checksum %016llx\n", nodes.size(),
                  static_cast<unsigned long long>(majority));
    } else {
      std::printf("NOT converged: %zu checksums, %zu disagree with the majority, %zu unreachable\n",
                  by_checksum.size(), disagree.size(), unreachable);
    }
  }
  return converged ? 0 : 1;
}

int cmd_lookup(const Ctx& c, const std::string& key, size_t n) {
  std::string err;
  auto j = call(c, c.node, "lookup", json{{"key", key}, {"n", n}}, &err);
  if (!j) return fail(err);
  if (c.json_out) {
    std::printf("%s\n", j->dump().c_str());
    return 0;
  }
  std::string owners;
  for (const auto& o : (*j)["owners"]) owners += (owners.empty() ? "" : " ") + o.get<std::string>();
  std::printf("%s -> %s\n", key.c_str(), owners.empty() ? "(no members)" : owners.c_str());
  return 0;
}

int cmd_forward(const Ctx& c, const std::string& key, const std::string& payload) {
  std::string err;
  auto j = call(c, c.node, "forward", json{{"key", key}, {"payload", payload}}, &err);
  if (!j) return fail(err);
  const bool ok = (*j)["ok"].get<bool>();
  if (c.json_out) {
    std::printf("%s\n", j->dump().c_str());
  } else if (ok) {
    std::printf("handled by %s: %s\n", (*j)["handled_by"].get<std::string>().c_str(),
                (*j)["payload"].get<std::string>().c_str());
  } else {
    std::fprintf(stderr, "shoal: forward failed: %s (%s)\n",
                 (*j)["error"].get<std::string>().c_str(),
                 (*j)["message"].get<std::string>().c_str());
  }
  return ok ? 0 : 1;
}

int cmd_simple(const Ctx& c, const std::string& command) {
  std::string err;
  auto j = call(c, c.node, command, json::object(), &err);
  if (!j) return fail(err);
  std::printf("%s\n", j->dump(c.json_out ? -1 : 2).c_str());
  return 0;
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
  auto* members = app.add_subcommand("members", "every member and its state");
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
  // Global flags are accepted after the subcommand too.
  for (auto* sub : {members, status, lookup, forward, stats, leave}) sub->fallthrough();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (members->parsed()) return cmd_members(c);
  if (status->parsed()) return cmd_status(c);
  if (lookup->parsed()) return cmd_lookup(c, key, n);
  if (forward->parsed()) return cmd_forward(c, fkey, fpayload);
  if (stats->parsed()) return cmd_simple(c, "stats");
  if (counters->parsed()) {
    std::printf("%s", shoal::node::render_counters_markdown().c_str());
    return 0;
  }
  if (leave->parsed()) return cmd_simple(c, "leave");
  return 2;
}
