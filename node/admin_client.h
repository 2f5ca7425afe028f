// Copyright shoal authors. A blocking client for a node's admin frames
// (what the `shoal` CLI and the integration tests use). One request per
// connection; every call ends within `timeout`.

#ifndef SHOAL_NODE_ADMIN_CLIENT_H_
#define SHOAL_NODE_ADMIN_CLIENT_H_

#include <chrono>
#include <string>

namespace shoal::node {

struct AdminResult {
  bool ok = false;
  std::string json;   // the answer (a JSON object or array) if ok
  std::string error;  // otherwise: unreachable, timed out, or the node's error
};

AdminResult admin_call(const std::string& address, const std::string& cluster,
                       const std::string& command, const std::string& args_json = "{}",
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

}  // namespace shoal::node

#endif  // SHOAL_NODE_ADMIN_CLIENT_H_
