// Copyright shoal authors. See error.h.

#include "shoal/node/error.h"

namespace shoal::node {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidOptions:
      return "invalid_options";
    case ErrorCode::kBindFailed:
      return "bind_failed";
    case ErrorCode::kNotRunning:
      return "not_running";
    case ErrorCode::kAlreadyStarted:
      return "already_started";
    case ErrorCode::kLeaving:
      return "leaving";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
  }
  return "unknown";
}

std::string Error::to_string() const {
  if (ok()) return "ok";
  return std::string(node::to_string(code)) + ": " + message;
}

}  // namespace shoal::node
