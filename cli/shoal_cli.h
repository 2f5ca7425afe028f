// Copyright shoal authors. What the `shoal` CLI's commands share (its
// context, asking a node, printing) and the commands of their own files:
// watch (member and app events) and app gossip (event, broadcast, query).
// shoal.cc registers every command.

#ifndef SHOAL_CLI_SHOAL_CLI_H_
#define SHOAL_CLI_SHOAL_CLI_H_

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "shoal/cli/answer_format.h"
#include "shoal/node/keyring.h"

namespace shoal::cli {

struct Ctx {
  std::string node = "127.0.0.1:7000";
  std::string cluster = "shoal";
  bool json_out = false;
  int timeout_ms = 3000;
  bool timeout_given = false;  // --timeout-ms on the command line
  std::string keyring_file;
  std::optional<shoal::node::Keyring> keyring;  // loaded from keyring_file
};

// "shoal: MSG" on stderr; 1.
int fail(const std::string& msg);
// Asks `node` the admin `command`: its JSON answer, or nullopt with `error`
// set. `timeout_ms` 0: the context's.
std::optional<nlohmann::json> call(const Ctx& c, const std::string& node,
                                   const std::string& command, const nlohmann::json& args,
                                   std::string* error, int timeout_ms = 0);
// Prints what a command's answer formats to; its exit status.
int print(const Printed& p);
// Now, UTC, to the millisecond: "2026-12-07T17:05:01.123Z".
std::string now_text();
// Prints member changes (app: broadcasts, events and queries delivered)
// as the node sees them; `seconds` > 0 bounds the run.
int cmd_watch(const Ctx& c, int interval_ms, int seconds, bool app);

// The options of event, broadcast and query.
struct AppArgs {
  std::string name;
  std::string payload;
  bool coalesce = false;            // event --coalesce
  std::vector<std::string> labels;  // query --label K=V
  std::vector<std::string> names;   // query --member NAME
  std::string timeout;              // query --timeout (e.g. 2s, 500ms)
  bool ack = false;                 // query --ack
};
void add_event(CLI::App& sub, AppArgs& a);
void add_broadcast(CLI::App& sub, AppArgs& a);
void add_query(CLI::App& sub, AppArgs& a);
int cmd_send(const Ctx& c, const std::string& command, const AppArgs& a);
int cmd_query(const Ctx& c, const AppArgs& a);

}  // namespace shoal::cli

#endif  // SHOAL_CLI_SHOAL_CLI_H_
