// Copyright shoal authors. The application's request handler: what it is
// given (Request) and how it answers (Reply), from any thread, exactly once.
//
//   node: request for a key this node owns
//     --> the io thread's own thread while handlers are quick, the handler
//         threads otherwise (NodeOptions::io_relief_after, handler_threads;
//         node/io_relief.h): a handler never holds the io loop long
//           deadline passed while queued? --> answered timeout, handler not run
//           handler(Request, Reply) -- may return at once and answer later,
//                                      from any thread
//     <-- Reply::ok / Reply::fail: the first one counts
//           a second one: ignored, counted (handler_replies_ignored)
//           every copy of the Reply gone unanswered: handler_dropped
//
// The simple form, RequestHandler (key, payload) -> HandlerResult, runs on
// the same executor and answers with what it returns.
//
// Endpoints: a node serves named endpoints, each with its own handler
// (Node::set_handler(endpoint, handler)); a request names the one it is
// for ("" is the default endpoint). A request for an endpoint without a
// handler ends in no_handler, naming it.
//
// Bounds, checked where a request starts and again at its owner
// (bad_request beyond them): at most kHeadersMax headers, of at most
// kHeaderBytesMax bytes of names and values together; at most kKeysMax
// keys in one request; an endpoint name of at most kEndpointBytesMax
// printable ASCII bytes without spaces.

#ifndef SHOAL_NODE_HANDLER_H_
#define SHOAL_NODE_HANDLER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::node {

using Headers = std::map<std::string, std::string, std::less<>>;
inline constexpr size_t kHeadersMax = 64;
inline constexpr size_t kHeaderBytesMax = 8192;
inline constexpr size_t kKeysMax = 1024;
inline constexpr size_t kEndpointBytesMax = 64;

// "" if `headers` are within the bounds, else what is wrong.
std::string check_headers(const Headers& headers);
// "" if `endpoint` is a valid endpoint name ("" included), else what is wrong.
std::string check_endpoint(std::string_view endpoint);

struct Request {
  std::string key;                // the request's key (its first, for many)
  std::vector<std::string> keys;  // every key: {key}, or an owner's group
                                  // of handle_or_forward_all
  std::string payload;
  Headers headers;
  int attempt = 1;  // 1 + the retries its sender used before this one
  // When the caller stops waiting. A request still queued then is not run.
  std::chrono::steady_clock::time_point deadline;
  std::string source;      // the node the caller called ("" for tests)
  std::string endpoint{};  // the endpoint it is for ("": the default)
  // A directed request (Node::request, Node::replicate) runs on the member
  // it names, whoever owns its key: `key` is "" for Node::request. For the
  // replicator, which of the key's owners this member is (0: the first,
  // the ring's owner); -1 for any other request.
  bool directed = false;
  int replica = -1;
};

// What a handler's run came to, as the forwarder sees it.
struct HandlerOutcome {
  enum class Kind : uint8_t {
    kOk,          // payload: the response
    kFailed,      // payload: why (handler_failed)
    kDropped,     // the Reply was let go of unanswered (handler_dropped)
    kExpired,     // its deadline passed before the handler ran (timeout)
    kNoHandler,   // none registered (no_handler)
    kOverloaded,  // the executor's queue is full (overloaded)
    kThrew,       // payload: what the handler threw (handler_failed)
    kIgnored,     // a second answer to one Reply (counted, nothing else)
  };
  Kind kind = Kind::kOk;
  std::string payload;
};

class Reply;
// The asynchronous handler: answer through `reply`, now or later.
using AsyncHandler = std::function<void(Request request, Reply reply)>;

// The handler's way to answer. Copyable; every copy answers the same
// request. Thread-safe: ok()/fail() may be called from any thread, and the
// first call wins.
class Reply {
 public:
  using Deliver = std::function<void(HandlerOutcome)>;
  Reply() = default;  // answers nothing (for tests)
  // `deliver` gets the outcome once, or kDropped if every copy goes
  // unanswered; later answers go to it as kIgnored.
  explicit Reply(Deliver deliver);

  void ok(std::string payload) const { answer(HandlerOutcome::Kind::kOk, std::move(payload)); }
  void fail(std::string why) const { answer(HandlerOutcome::Kind::kFailed, std::move(why)); }
  bool answered() const { return state_ && state_->done.load(); }

 private:
  friend void run_request(const AsyncHandler*, Request, bool, Deliver);
  void answer_threw(std::string what) const {
    answer(HandlerOutcome::Kind::kThrew, std::move(what));
  }
  struct State {
    explicit State(Deliver d) : deliver(std::move(d)) {}
    ~State();
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    Deliver deliver;
    std::atomic<bool> done{false};
  };
  void answer(HandlerOutcome::Kind kind, std::string payload) const;
  std::shared_ptr<State> state_;
};

// What a simple handler returns: a response payload, or an error message.
struct HandlerResult {
  bool ok = true;
  std::string payload;  // response if ok, error message if not
};
// The simple handler: runs on the handler executor, answers by returning.
using RequestHandler = std::function<HandlerResult(std::string_view key, std::string_view payload)>;

// The simple handler as an asynchronous one.
AsyncHandler adapt(RequestHandler handler);

// Runs one request as every executor does: kNoHandler without a handler,
// kExpired if `expired` (the handler is not run), else the handler with a
// Reply that delivers; a throw becomes kThrew (unless it had answered).
void run_request(const AsyncHandler* handler, Request request, bool expired,
                 Reply::Deliver deliver);

}  // namespace shoal::node

#endif  // SHOAL_NODE_HANDLER_H_
