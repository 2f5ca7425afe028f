// Copyright shoal authors. The public API's app gossip (node.h, app.h):
// each call is handed to the io thread, which owns the engine.

#include <future>
#include <memory>
#include <string>
#include <utility>

#include "shoal/node/node.h"
#include "shoal/node/node_impl.h"

namespace shoal::node {

namespace {

Error refused(const std::string& why) {
  return why.empty() ? Error{} : Error{ErrorCode::kInvalidArgument, why};
}

}  // namespace

Error Node::broadcast(std::string name, std::string payload) {
  return impl_->on_io([this, &name, &payload]() -> Error {
    Impl& d = *impl_;
    if (!d.on_io_thread()) return {ErrorCode::kNotRunning, "the node is not running"};
    const std::string why = d.engine->broadcast(std::move(name), std::move(payload), mono_now());
    d.pump();
    return refused(why);
  });
}

Error Node::event(std::string name, std::string payload, bool coalesce) {
  return impl_->on_io([this, &name, &payload, coalesce]() -> Error {
    Impl& d = *impl_;
    if (!d.on_io_thread()) return {ErrorCode::kNotRunning, "the node is not running"};
    const std::string why =
        d.engine->event(std::move(name), std::move(payload), coalesce, mono_now());
    d.pump();
    return refused(why);
  });
}

void Node::query(std::string name, std::string payload, QueryOptions options,
                 std::function<void(QueryResult)> done) {
  auto call = [&d = *impl_, name = std::move(name), payload = std::move(payload),
               options = std::move(options), done]() mutable {
    membership::QuerySpec spec{std::move(name),          std::move(payload),
                               std::move(options.names), std::move(options.labels),
                               options.want_ack,         options.timeout};
    // Collected here, handed over whole at the end.
    auto result = std::make_shared<QueryResult>();
    auto collect = [result, done](const membership::AppOutput& out) {
      if (out.what == membership::AppOutput::What::kQueryEnd) {
        if (done) done(std::move(*result));
      } else if (out.ack) {
        result->acks.push_back(out.from);
      } else {
        result->responses.push_back({out.from, out.payload});
      }
    };
    uint64_t id = 0;
    std::string why = d.engine->query(std::move(spec), std::move(collect), mono_now(), id);
    if (!why.empty() && done) done(QueryResult{refused(why), {}, {}});
  };
  if (!impl_->with_engine(std::move(call)) && done) {
    done(QueryResult{{ErrorCode::kNotRunning, "the node is not running"}, {}, {}});
  }
}

std::future<QueryResult> Node::query(std::string name, std::string payload, QueryOptions options) {
  auto promise = std::make_shared<std::promise<QueryResult>>();
  auto fut = promise->get_future();
  if (impl_->future_form_refused()) {
    promise->set_value(QueryResult{
        {ErrorCode::kInvalidArgument,
         "query's future form called on the node's io thread: use the form with a callback"},
        {},
        {}});
    return fut;
  }
  query(std::move(name), std::move(payload), std::move(options),
        [promise](QueryResult r) { promise->set_value(std::move(r)); });
  return fut;
}

Error Node::answer_query(uint64_t query_id, std::string payload) {
  return impl_->on_io([this, query_id, &payload]() -> Error {
    Impl& d = *impl_;
    if (!d.on_io_thread()) return {ErrorCode::kNotRunning, "the node is not running"};
    const std::string why = d.engine->answer_query(query_id, std::move(payload), mono_now());
    d.pump();
    return refused(why);
  });
}

Error Node::set_query_handler(const std::string& name, QueryHandler handler) {
  if (std::string why = check_query_handler_name(name); !why.empty()) return refused(why);
  return impl_->on_io([this, &name, &handler]() -> Error {
    Impl& d = *impl_;
    if (handler) {
      if (d.query_handlers.size() >= AppRouter::kHandlersMax && d.query_handlers.count(name) == 0) {
        return refused("query handler: " + std::to_string(AppRouter::kHandlersMax) +
                       " are set already");
      }
      d.query_handlers[name] = handler;
    } else {
      d.query_handlers.erase(name);
    }
    if (d.engine) return refused(d.engine->set_query_handler(name, std::move(handler)));
    return {};
  });
}

Node::ListenerId Node::on_app_message(std::function<void(const AppMessage&)> callback,
                                      Executor executor) {
  return impl_->listeners.add_app(std::move(callback), std::move(executor));
}

}  // namespace shoal::node
