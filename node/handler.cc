// Copyright shoal authors. See handler.h.

#include "shoal/node/handler.h"

namespace shoal::node {

std::string check_headers(const Headers& headers) {
  if (headers.size() > kHeadersMax) {
    return std::to_string(headers.size()) + " headers, over the limit of " +
           std::to_string(kHeadersMax);
  }
  size_t bytes = 0;
  for (const auto& [name, value] : headers) bytes += name.size() + value.size();
  if (bytes > kHeaderBytesMax) {
    return "headers of " + std::to_string(bytes) + " bytes, over the limit of " +
           std::to_string(kHeaderBytesMax);
  }
  return "";
}

std::string check_endpoint(std::string_view endpoint) {
  if (endpoint.size() > kEndpointBytesMax) {
    return "endpoint name of " + std::to_string(endpoint.size()) + " bytes, over the limit of " +
           std::to_string(kEndpointBytesMax);
  }
  for (const char c : endpoint) {
    if (c <= ' ' || c > '~') {
      return "endpoint name with a byte that is not printable ASCII (or a space): only "
             "'!'..'~' are allowed";
    }
  }
  return "";
}

Reply::Reply(Deliver deliver) : state_(std::make_shared<State>(std::move(deliver))) {}

Reply::State::~State() {
  if (!done.load() && deliver) deliver({HandlerOutcome::Kind::kDropped, ""});
}

void Reply::answer(HandlerOutcome::Kind kind, std::string payload) const {
  if (!state_) return;
  if (state_->done.exchange(true)) kind = HandlerOutcome::Kind::kIgnored;
  if (state_->deliver) state_->deliver({kind, std::move(payload)});
}

AsyncHandler adapt(RequestHandler handler) {
  return [h = std::move(handler)](Request request, Reply reply) {
    HandlerResult r = h(request.key, request.payload);
    if (r.ok) {
      reply.ok(std::move(r.payload));
    } else {
      reply.fail(std::move(r.payload));
    }
  };
}

void run_request(const AsyncHandler* handler, Request request, bool expired,
                 Reply::Deliver deliver) {
  using Kind = HandlerOutcome::Kind;
  if (handler == nullptr || !*handler) return deliver({Kind::kNoHandler, ""});
  if (expired) return deliver({Kind::kExpired, ""});
  Reply reply(std::move(deliver));
  // The application's code: whatever it throws fails its request, not the
  // node (a throw after it answered is one more answer, ignored).
  try {
    (*handler)(std::move(request), reply);
  } catch (const std::exception& e) {
    reply.answer_threw(std::string("handler threw: ") + e.what());
  } catch (...) {
    reply.answer_threw("handler threw");
  }
}

}  // namespace shoal::node
