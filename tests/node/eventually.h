// Bounded polling for the node tests: real sockets and threads, so a test
// waits for a condition, never for a fixed time.

#ifndef SHOAL_TESTS_NODE_EVENTUALLY_H_
#define SHOAL_TESTS_NODE_EVENTUALLY_H_

#include <chrono>
#include <functional>
#include <thread>

namespace shoal::node {

// Polls `pred` every 20 ms until it holds or `limit` passes; its last answer.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(20000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace shoal::node

#endif  // SHOAL_TESTS_NODE_EVENTUALLY_H_
