// Copyright shoal authors. A blocking client for a node's admin frames
// (what the `shoal` CLI and the integration tests use). One request per
// connection; every call ends within `timeout`.
//
// With a keyring the request is sealed with its primary key (seal.h), as
// a node with a keyring requires; a plaintext answer (a refusal from a
// node that cannot open it) is read too. Failures say what is wrong: not
// a shoal node, a node of another cluster, a key it lacks.

#ifndef SHOAL_NODE_ADMIN_CLIENT_H_
#define SHOAL_NODE_ADMIN_CLIENT_H_

#include <chrono>
#include <string>

#include "shoal/node/keyring.h"

namespace shoal::node {

struct AdminResult {
  bool ok = false;
  std::string json;   // the answer (a JSON object or array) if ok
  std::string error;  // otherwise: unreachable, timed out, or the node's error
};

AdminResult admin_call(const std::string& address, const std::string& cluster,
                       const std::string& command, const std::string& args_json = "{}",
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(3000),
                       const Keyring* keyring = nullptr);

}  // namespace shoal::node

#endif  // SHOAL_NODE_ADMIN_CLIENT_H_
