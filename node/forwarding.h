// Copyright shoal authors. What a forwarded request comes to: the options
// an app gives handle_or_forward (node.h) and the one result every call
// ends in. The forwarder (forwarder.h) is the machinery behind them.

#ifndef SHOAL_NODE_FORWARDING_H_
#define SHOAL_NODE_FORWARDING_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "shoal/node/handler.h"

namespace shoal::node {

// Why a forwarded request did not produce a handler response. Values are
// the wire's ErrorCode (proto/shoal.proto); 7 was TOO_MANY_HOPS, removed
// (a request never travels past its owner).
enum class ForwardError : uint8_t {
  kOk = 0,
  kTimeout = 1,             // no answer within the request's time budget
  kOwnerUnreachable = 2,    // the owner's connection failed, retries used up
  kOverloaded = 3,          // too many requests in flight to the owner
  kCircuitOpen = 4,         // the owner failed repeatedly; not tried for a while
  kTooManyRingChanges = 5,  // each retry found another owner who disowned the key
  kNotOwner = 6,            // (on the wire) the receiver does not own the key
  kNoHandler = 8,           // the owner has no handler registered
  kHandlerFailed = 9,       // the owner's handler reported an error
  kBadRequest = 10,
  kShuttingDown = 11,    // this node or the owner is stopping
  kHandlerDropped = 12,  // the owner's handler let go of its reply unanswered
  kUnknownMember = 13,   // a directed request's member is unknown, faulty,
                         // gone, or speaks a protocol minor before 4
};
std::string_view to_string(ForwardError e);
// Every value, in wire order (for counting outcomes by name).
inline constexpr ForwardError kForwardErrors[] = {
    ForwardError::kOk,           ForwardError::kTimeout,      ForwardError::kOwnerUnreachable,
    ForwardError::kOverloaded,   ForwardError::kCircuitOpen,  ForwardError::kTooManyRingChanges,
    ForwardError::kNotOwner,     ForwardError::kNoHandler,    ForwardError::kHandlerFailed,
    ForwardError::kBadRequest,   ForwardError::kShuttingDown, ForwardError::kHandlerDropped,
    ForwardError::kUnknownMember};

struct ForwardResult {
  ForwardError error = ForwardError::kOk;
  std::string message;     // why, for errors
  std::string payload;     // the handler's response
  std::string handled_by;  // the member that ran the handler
  int attempts = 0;        // 1 + retries used
  bool ok() const { return error == ForwardError::kOk; }
};

struct ForwardOptions {
  // Total time budget for the request, retries included.
  std::chrono::milliseconds timeout{1000};
  // Retries after a failed attempt; each looks the key up again first.
  int retries = 3;
  // Go with the request to its handler (bounded: node/handler.h).
  Headers headers{};
  // The endpoint whose handler runs it (Node::set_handler(endpoint, ...));
  // "": the default endpoint.
  std::string endpoint{};
};

// handle_or_forward_all: the result of each key, in the order given.
struct KeyResult {
  std::string key;
  ForwardResult result;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_FORWARDING_H_
