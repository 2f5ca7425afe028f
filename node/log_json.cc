// Copyright shoal authors. See log_json.h.

#include "shoal/node/log_json.h"

#include <spdlog/details/log_msg.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace shoal::node {

namespace {

// "2026-12-07T11:20:01.123Z"
std::string utc_time(spdlog::log_clock::time_point t) {
  const auto since = t.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
  const std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(buf, n) + "." + std::to_string(1000 + ms).substr(1) + "Z";
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json line;
    line["time"] = utc_time(msg.time);
    const auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string(level.data(), level.size());
    std::string_view text(msg.payload.data(), msg.payload.size());
    const LogContext& ctx = log_context();
    if (!ctx.node.empty()) {
      line["node"] = std::string(ctx.node);
      // The text prefix "node: " (NodeLog's) is a field here.
      if (text.size() > ctx.node.size() + 1 && text.substr(0, ctx.node.size()) == ctx.node &&
          text.substr(ctx.node.size(), 2) == ": ") {
        text.remove_prefix(ctx.node.size() + 2);
      }
    }
    line["event"] = ctx.event.empty() ? std::string("log") : std::string(ctx.event);
    line["msg"] = std::string(text);
    if (ctx.fields != nullptr) {
      for (const auto& [k, v] : *ctx.fields) line[k] = v;
    }
    const std::string out =
        line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

LogContext& log_context() {
  thread_local LogContext ctx;
  return ctx;
}

std::unique_ptr<spdlog::formatter> json_log_formatter() {
  return std::make_unique<JsonFormatter>();
}

}  // namespace shoal::node
