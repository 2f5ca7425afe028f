// Copyright shoal authors. The metrics endpoint: Prometheus text at
// GET /metrics over HTTP/1.0, one request per connection, loopback only
// (NodeOptions::validate refuses other addresses: the counters are not for
// the network).
//
// Every connection is bounded: the request head may be at most 8 KiB
// (431 otherwise) and the whole exchange 5 s, after which the connection
// is closed. Anything but GET /metrics gets 404.
// Thread safety: the io thread only.

#ifndef SHOAL_NODE_METRICS_HTTP_H_
#define SHOAL_NODE_METRICS_HTTP_H_

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <functional>
#include <string>

namespace shoal::node {

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
