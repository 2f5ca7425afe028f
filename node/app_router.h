// Copyright shoal authors. The engine's side of app gossip
// (membership/app_gossip.h): who gets what the core delivers.
//
//   delivered broadcasts, events, queries -> numbered in a bounded log (the
//                                            admin `app_events` command,
//                                            `shoal watch --events`) and
//                                            handed to the driver (listeners)
//   a delivered query                     -> its query handler, by name
//                                            (the app's, else a built-in:
//                                            `ping` answers "pong",
//                                            `version` this build's
//                                            version); the answer goes back
//                                            through the core
//   acks, responses, a query's end        -> the asker's callback, by id
//
// Thread safety: none; the engine's thread owns it.

#ifndef SHOAL_NODE_APP_ROUTER_H_
#define SHOAL_NODE_APP_ROUTER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shoal/membership/membership.h"
#include "shoal/node/app.h"

namespace shoal::node {

using membership::AppOutput;
using membership::QuerySpec;
// An asker's callback: each ack and response (AppOutput::kAnswer), then
// once the end (kQueryEnd).
using QueryCallback = std::function<void(const AppOutput&)>;

// "" if `name` may name a query handler (an app message name), else why not.
std::string check_query_handler_name(const std::string& name);

class AppRouter {
 public:
  struct Logged {
    uint64_t seq = 0;
    AppMessage message;
  };
  static constexpr size_t kLogMax = 1024;
  static constexpr size_t kHandlersMax = 256;

  // "" or why not (a bad name, too many handlers). An empty handler
  // removes the name's (a built-in comes back).
  std::string set_query_handler(const std::string& name, QueryHandler handler);
  void track(uint64_t id, QueryCallback callback) { asked_[id] = std::move(callback); }
  // One output of the core; a delivered query's answer goes back through
  // `core`. A handler that throws answers nothing (counted in `errors`).
  void on_output(AppOutput out, membership::Membership& core, membership::Instant now);

  std::vector<AppMessage> take_deliveries() { return std::exchange(deliveries_, {}); }
  const std::deque<Logged>& log() const { return log_; }
  uint64_t last_seq() const { return seq_; }
  uint64_t handler_errors() const { return errors_; }

 private:
  std::optional<std::string> run_handler(const AppMessage& query);

  std::map<std::string, QueryHandler, std::less<>> handlers_;
  std::map<uint64_t, QueryCallback> asked_;
  std::vector<AppMessage> deliveries_;
  std::deque<Logged> log_;
  uint64_t seq_ = 0;
  uint64_t errors_ = 0;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_APP_ROUTER_H_
