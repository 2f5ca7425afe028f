// Copyright shoal authors. Errors of the embedding API as values: a code a
// program can branch on and a message a person can read (LevelDB's Status
// habit; std::error_code's truth test).
//
//   if (shoal::node::Error err = node.start()) {     // true: it failed
//     std::fprintf(stderr, "%s\n", err.message.c_str());
//     if (err.code == shoal::node::ErrorCode::kBindFailed) ...
//   }
//
// An Error that is not an error (`ok()`) has code kOk and no message.

#ifndef SHOAL_NODE_ERROR_H_
#define SHOAL_NODE_ERROR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace shoal::node {

enum class ErrorCode : uint8_t {
  kOk = 0,
  kInvalidOptions,   // NodeOptions::validate() refused them: the message names the option
  kBindFailed,       // a listen or metrics address could not be bound or resolved
  kNotRunning,       // the node was not started, or has stopped
  kAlreadyStarted,   // start() was called twice
  kLeaving,          // the node is leaving the cluster
  kInvalidArgument,  // a call's argument is out of bounds (labels over 512 bytes, ...)
};
// "ok", "invalid_options", "bind_failed", ...
std::string_view to_string(ErrorCode code);

struct [[nodiscard]] Error {
  ErrorCode code = ErrorCode::kOk;
  std::string message;  // what went wrong, for people; "" when ok

  Error() = default;
  Error(ErrorCode c, std::string m) : code(c), message(std::move(m)) {}
  bool ok() const { return code == ErrorCode::kOk; }
  // True if this is an error (as std::error_code), so that
  // `if (auto err = node.start())` reads "if starting failed".
  explicit operator bool() const { return !ok(); }
  // "bind_failed: listen 127.0.0.1:7000 (tcp): Address already in use"
  std::string to_string() const;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_ERROR_H_
