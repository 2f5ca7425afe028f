// Copyright shoal authors. Logs machines read: one JSON object a line
// (shoald --log-format json), from spdlog's own messages.
//
//   {"time":"2026-12-07T11:20:01.123Z","level":"info","node":"shoal-0",
//    "event":"member","msg":"member shoal-3 alive -> faulty inc 7 (from shoal-1)",
//    "member":"shoal-3","address":"10.0.0.3:7000","from_status":"alive",
//    "status":"faulty","incarnation":"7","source":"shoal-1"}
//
// A NodeLog call (log.h) says, for the line it is logging on this thread,
// which node it is from, what kind of event it is and its fields
// (log_context()); the JSON formatter puts them beside the message and
// drops the text prefix "node: " the message carries for text logs. A
// line from elsewhere (spdlog's default logger) is {"time", "level",
// "event": "log", "msg"}. Any bytes in a message come out as valid JSON
// (invalid UTF-8 replaced).

#ifndef SHOAL_NODE_LOG_JSON_H_
#define SHOAL_NODE_LOG_JSON_H_

#include <spdlog/formatter.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shoal::node {

using LogFields = std::vector<std::pair<std::string, std::string>>;

// What the line being logged on this thread is about; empty outside a
// NodeLog call.
struct LogContext {
  std::string_view node;
  std::string_view event;
  const LogFields* fields = nullptr;
};
LogContext& log_context();

// spdlog's formatter for one JSON object a line.
std::unique_ptr<spdlog::formatter> json_log_formatter();

}  // namespace shoal::node

#endif  // SHOAL_NODE_LOG_JSON_H_
