// Copyright shoal authors. A node's log: the logger the app gave
// (NodeOptions::logger) or one of the node's own to stderr, every line
// beginning with the node's name, and the rate limits that keep a flood
// of hostile input from flooding the log.
//
//   NodeLog log(options.logger);   // null: stderr, spdlog's default level
//   log.set_name("shoal-0");       // before the io thread starts
//   log.warn("dropped from {}: {}", from, why);   -> "shoal-0: dropped from ..."
//
// Thread safety: the logging calls from any thread (spdlog's loggers are
// thread-safe; the name is set before other threads log). due() and
// member_line_due() keep state: the io thread only.

#ifndef SHOAL_NODE_LOG_H_
#define SHOAL_NODE_LOG_H_

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "shoal/node/log_json.h"

namespace shoal::node {

class NodeLog {
 public:
  explicit NodeLog(std::shared_ptr<spdlog::logger> logger);

  // Every line from now on begins "name: ".
  void set_name(const std::string& name) {
    name_ = name;
    prefix_ = name + ": ";
  }
  const std::string& prefix() const { return prefix_; }
  const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }

  template <class... A>
  void debug(fmt::format_string<A...> f, A&&... a) const {
    log(spdlog::level::debug, f, std::forward<A>(a)...);
  }
  template <class... A>
  void info(fmt::format_string<A...> f, A&&... a) const {
    log(spdlog::level::info, f, std::forward<A>(a)...);
  }
  template <class... A>
  void warn(fmt::format_string<A...> f, A&&... a) const {
    log(spdlog::level::warn, f, std::forward<A>(a)...);
  }
  template <class... A>
  void error(fmt::format_string<A...> f, A&&... a) const {
    log(spdlog::level::err, f, std::forward<A>(a)...);
  }

  // The logger's level by name (trace, debug, info, warn, error, critical,
  // off), and a change of it at run time: "" or what is wrong with `name`.
  // With an app's own logger, the app's level changes too.
  std::string level() const;
  std::string set_level(const std::string& name);

  // A line about one event, with its fields (JSON logs show them beside
  // the message: log_json.h; text logs show the message).
  void event(spdlog::level::level_enum level, std::string_view event, const LogFields& fields,
             std::string text) const;

  // At most one line per `reason` per second: true if one is due now.
  bool due(std::string_view reason);
  // Member-change lines: at most `per_second` a second (0: no limit);
  // what is left out is reported in one line after the second.
  bool member_line_due(uint32_t per_second);

 private:
  template <class... A>
  void log(spdlog::level::level_enum level, fmt::format_string<A...> f, A&&... a) const {
    if (!logger_->should_log(level)) return;
    emit(level, {}, nullptr, fmt::format(f, std::forward<A>(a)...));
  }
  // Logs "prefix text", telling a JSON formatter the node, event and fields.
  void emit(spdlog::level::level_enum level, std::string_view event, const LogFields* fields,
            const std::string& text) const;

  using Clock = std::chrono::steady_clock;
  std::shared_ptr<spdlog::logger> logger_;
  std::string name_;
  std::string prefix_;
  std::map<std::string, Clock::time_point, std::less<>> logged_at_;  // by reason
  Clock::time_point member_window_{};
  uint32_t member_lines_ = 0;
  uint64_t member_skipped_ = 0;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_LOG_H_
