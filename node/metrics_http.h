// Copyright shoal authors. The metrics endpoint: Prometheus text at
// GET /metrics over HTTP/1.0, one request per connection, loopback only
// (NodeOptions::validate refuses other addresses: the counters are not for
// the network).
//
// Every connection is bounded: the request head may be at most 8 KiB
// (431 otherwise) and the whole exchange 5 s, after which the connection
// is closed. Anything but GET /metrics gets 404.
// Thread safety: the io thread only (parse_metrics_request: any thread).

#ifndef SHOAL_NODE_METRICS_HTTP_H_
#define SHOAL_NODE_METRICS_HTTP_H_

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace shoal::node {

// What the bytes received so far on a metrics connection ask for. Pure:
// the connection calls it after every read (tests/fuzz fuzzes it).
//   kIncomplete  no end of the head ("\r\n\r\n" or "\n\n") yet: read on
//   kTooLarge    no end yet, and over kMetricsHeadMax bytes: 431
//   kMetrics     a complete head of GET /metrics (or /metrics?...): 200
//   kNotFound    any other complete head: 404
enum class MetricsRequest { kIncomplete, kTooLarge, kMetrics, kNotFound };
inline constexpr size_t kMetricsHeadMax = 8192;
MetricsRequest parse_metrics_request(std::string_view received);

class MetricsServer {
 public:
  // `render` produces the body of GET /metrics.
  MetricsServer(asio::io_context& io, std::function<std::string()> render);

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
  std::function<std::string()> render_;
  asio::ip::tcp::acceptor acceptor_;
  std::string address_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_METRICS_HTTP_H_
