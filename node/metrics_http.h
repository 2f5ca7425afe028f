// Copyright shoal authors. The metrics listener: HTTP/1.0 for Prometheus
// and for orchestrators' probes, one request per connection, served on the
// node's io thread.
//
//   GET /metrics  Prometheus text (every counter of node/counters.h)
//   GET /health   200 "ok": answered by the io loop itself, so an answer
//                 means the loop that probes and acks runs (a stuck loop
//                 answers nothing, and the probe times out): liveness
//   GET /ready    200 once the node has joined, is neither draining nor
//                 leaving, and its member table agrees with its peers'
//                 (io_driver.cc, readiness); else 503. The body (JSON) says which:
//                 readiness
//   GET /ui ...   the web page of the cluster and its JSON (ui.h)
//   anything else 404. Every endpoint is read-only.
//
// Loopback only unless the operator opts in (NodeOptions::metrics_public,
// shoald --metrics-public): then whoever reaches it reads the counters.
// Every connection is bounded: the request head may be at most 8 KiB (431
// otherwise), and the whole exchange 5 s from accept, however slowly the
// client sends (a byte every second holds nothing longer); at most
// kConnectionsMax at once, more are closed at accept; a failed accept (out
// of descriptors) waits 100 ms before the next.
//
// Why not cpp-httplib (Debian's 0.11.4, tried for this): its timeouts are
// per read, so a client sending one header byte per read timeout holds a
// worker thread for hours; two such clients held both workers and /health
// went unanswered. Its job queue is unbounded. An answer within 5 s of
// accept, whatever the client does, is what a probe endpoint needs.
// Thread safety: the io thread only (parse_metrics_request: any thread).

#ifndef SHOAL_NODE_METRICS_HTTP_H_
#define SHOAL_NODE_METRICS_HTTP_H_

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace shoal::node {

// What the bytes received so far on a metrics connection ask for. Pure:
// the connection calls it after every read (tests/fuzz fuzzes it).
//   kIncomplete  no end of the head ("\r\n\r\n" or "\n\n") yet: read on
//   kTooLarge    no end yet, and over kMetricsHeadMax bytes: 431
//   kMetrics     a complete head of GET /metrics (or /metrics?...): 200
//   kHealth      GET /health (or /health?...): 200
//   kReady       GET /ready (or /ready?...): 200 or 503
//   kUi          GET /ui, /ui?..., or /ui/...: the web page (ui.h)
//   kNotFound    any other complete head: 404
enum class MetricsRequest { kIncomplete, kTooLarge, kMetrics, kHealth, kReady, kUi, kNotFound };
// The request target of a complete GET head ("/ui/key?k=x"): from after
// "GET " to the next space or line end.
std::string_view request_target(std::string_view head);
inline constexpr size_t kMetricsHeadMax = 8192;
MetricsRequest parse_metrics_request(std::string_view received);

class MetricsServer {
 public:
  struct Handlers {
    std::function<std::string()> metrics;                 // the Prometheus text
    std::function<std::pair<bool, std::string>()> ready;  // ready?, JSON body
    // GET /ui...: (content type, body) for the target; an empty type is
    // 404, "400" a bad request (the body says why). Null: /ui is 404.
    std::function<std::pair<std::string, std::string>(std::string_view target)> ui;
  };
  static constexpr size_t kConnectionsMax = 64;

  MetricsServer(asio::io_context& io, Handlers handlers);

  // Binds and listens at `address` ("host:port", port 0 picks one);
  // "" on success, else why not.
  std::string open(const std::string& address);
  // The bound address (real port), or "" if not open.
  const std::string& address() const { return address_; }
  bool is_open() const { return acceptor_.is_open(); }
  void start();
  void close();

 private:
  class Conn;
  void accept();

  asio::io_context& io_;
  Handlers handlers_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::shared_ptr<size_t> open_ = std::make_shared<size_t>(0);  // connections
  std::string address_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_METRICS_HTTP_H_
