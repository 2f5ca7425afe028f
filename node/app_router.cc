// Copyright shoal authors. See app_router.h.

#include "shoal/node/app_router.h"

#include <exception>
#include <string>
#include <utility>

#include "shoal/node/version.h"

namespace shoal::node {

std::string check_query_handler_name(const std::string& name) {
  if (std::string why = membership::check_app_name(name); !why.empty()) {
    return "query handler: " + why;
  }
  return {};
}

std::string AppRouter::set_query_handler(const std::string& name, QueryHandler handler) {
  if (std::string why = check_query_handler_name(name); !why.empty()) return why;
  if (!handler) {
    handlers_.erase(name);
    return {};
  }
  if (handlers_.size() >= kHandlersMax && handlers_.count(name) == 0) {
    return "query handler: " + std::to_string(kHandlersMax) + " are set already";
  }
  handlers_[name] = std::move(handler);
  return {};
}

std::optional<std::string> AppRouter::run_handler(const AppMessage& query) {
  auto it = handlers_.find(query.name);
  if (it != handlers_.end()) {
    try {
      return it->second(query);
    } catch (const std::exception&) {
      ++errors_;
      return std::nullopt;
    } catch (...) {
      ++errors_;
      return std::nullopt;
    }
  }
  if (query.name == "ping") return std::string("pong");
  if (query.name == "version") return std::string(version());
  return std::nullopt;
}

void AppRouter::on_output(AppOutput out, membership::Membership& core, membership::Instant now) {
  if (out.what != AppOutput::What::kDelivery) {
    auto it = asked_.find(out.id);
    if (it == asked_.end()) return;
    const bool end = out.what == AppOutput::What::kQueryEnd;
    QueryCallback callback = end ? std::move(it->second) : it->second;
    if (end) asked_.erase(it);
    if (callback) callback(out);
    return;
  }
  if (log_.size() >= kLogMax) log_.pop_front();
  log_.push_back({++seq_, out.message});
  if (out.message.kind == membership::AppKind::kQuery) {
    if (auto answer = run_handler(out.message)) {
      // Refused only when too big for a datagram, or late: nothing to send.
      if (!core.answer_query(out.message.id, std::move(*answer), now).empty()) ++errors_;
    }
  }
  deliveries_.push_back(std::move(out.message));
}

}  // namespace shoal::node
