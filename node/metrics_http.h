// Copyright shoal authors. The metrics listener: HTTP for Prometheus and
// for orchestrators' probes, served by cpp-httplib on its own two threads
// (never on the io thread).
//
//   GET /metrics  Prometheus text (every counter of node/counters.h)
//   GET /health   200 "ok" if the node's io loop runs a task within 1 s,
//                 else 503: a liveness probe (a stuck loop is a dead node)
//   GET /ready    200 once the node has joined, is not draining or leaving,
//                 and its member table agrees with what its peers last
//                 gossiped (the ring follows the table); else 503. The body
//                 says which (JSON): a readiness probe
//   anything else 404; every endpoint is read-only.
//
// The address is loopback unless the operator opts in
// (NodeOptions::metrics_public, shoald --metrics-public): then anyone who
// can reach it reads the counters, so put it on a network for monitoring.
// Bounds: a request head of at most 8 KiB (cpp-httplib's limit), no body
// over 1 KiB, 2 s to read a request or write an answer, two threads (more
// connections wait their turn).
// Thread safety: open/start/close from one thread; the handlers run on
// the server's threads.

#ifndef SHOAL_NODE_METRICS_HTTP_H_
#define SHOAL_NODE_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace shoal::node {

class MetricsServer {
 public:
  struct Handlers {
    // The Prometheus text; nullopt if the io loop did not answer in time.
    std::function<std::optional<std::string>()> metrics;
    // Whether the io loop answered in time.
    std::function<bool()> healthy;
    // Ready or not, and the JSON body saying why.
    std::function<std::pair<bool, std::string>()> ready;
  };
  explicit MetricsServer(Handlers handlers);
  ~MetricsServer();  // close()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds `address` ("host:port", port 0 picks one); "" on success, else
  // why not.
  std::string open(const std::string& address);
  // The bound address (real port), or "" if not open.
  const std::string& address() const { return address_; }
  bool is_open() const { return !address_.empty(); }
  // Serves on the server's threads until close().
  void start();
  void close();

 private:
  struct Server;
  Handlers handlers_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::string address_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_METRICS_HTTP_H_
