// Copyright shoal authors. See log.h.

#include "shoal/node/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace shoal::node {

namespace {

// The node's own logger: stderr (docs/OPERATIONS.md), colour on a
// terminal, at the level spdlog's default logger has when the node starts.
std::shared_ptr<spdlog::logger> stderr_logger() {
  auto logger = std::make_shared<spdlog::logger>(
      "shoal", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::get_level());
  return logger;
}

}  // namespace

NodeLog::NodeLog(std::shared_ptr<spdlog::logger> logger)
    : logger_(logger ? std::move(logger) : stderr_logger()) {}

void NodeLog::emit(spdlog::level::level_enum level, std::string_view event, const LogFields* fields,
                   const std::string& text) const {
  LogContext& ctx = log_context();
  const LogContext saved = ctx;
  ctx = LogContext{name_, event, fields};
  logger_->log(level, "{}{}", prefix_, text);
  ctx = saved;
}

void NodeLog::event(spdlog::level::level_enum level, std::string_view event,
                    const LogFields& fields, std::string text) const {
  if (logger_->should_log(level)) emit(level, event, &fields, text);
}

bool NodeLog::due(std::string_view reason) {
  const auto now = Clock::now();
  auto it = logged_at_.find(reason);
  if (it == logged_at_.end())
    it = logged_at_.emplace(std::string(reason), Clock::time_point{}).first;
  if (now - it->second < std::chrono::seconds(1)) return false;
  it->second = now;
  return true;
}

bool NodeLog::member_line_due(uint32_t per_second) {
  if (per_second == 0) return true;
  const auto now = Clock::now();
  if (now - member_window_ >= std::chrono::seconds(1)) {
    if (member_skipped_ > 0) {
      warn("{} member changes not logged (over {} lines a second)", member_skipped_, per_second);
    }
    member_window_ = now;
    member_lines_ = 0;
    member_skipped_ = 0;
  }
  if (member_lines_ < per_second) {
    ++member_lines_;
    return true;
  }
  ++member_skipped_;
  return false;
}

std::string NodeLog::level() const {
  const auto name = spdlog::level::to_string_view(logger_->level());
  return std::string(name.data(), name.size());
}

std::string NodeLog::set_level(const std::string& name) {
  // spdlog's own parser: its names, and "warn" and "err"; anything else
  // comes back as off.
  const auto level = spdlog::level::from_str(name);
  if (level == spdlog::level::off && name != "off") {
    return "unknown level '" + name + "' (trace, debug, info, warn, error, critical, off)";
  }
  logger_->set_level(level);
  return "";
}

}  // namespace shoal::node
