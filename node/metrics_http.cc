// Copyright shoal authors. See metrics_http.h.

#include "shoal/node/metrics_http.h"

#include <array>
#include <asio/write.hpp>
#include <memory>

#include "shoal/node/host_port.h"

namespace shoal::node {

using asio::ip::tcp;

namespace {

// Whether the head is a GET of `path` (then a space or a query).
bool is_get(std::string_view head, std::string_view path) {
  if (!head.starts_with("GET ") || head.substr(4).rfind(path, 0) != 0) return false;
  const size_t after = 4 + path.size();
  return head.size() > after && (head[after] == ' ' || head[after] == '?');
}

}  // namespace

MetricsRequest parse_metrics_request(std::string_view received) {
  if (received.find("\r\n\r\n") == std::string_view::npos &&
      received.find("\n\n") == std::string_view::npos) {
    return received.size() > kMetricsHeadMax ? MetricsRequest::kTooLarge
                                             : MetricsRequest::kIncomplete;
  }
  if (is_get(received, "/metrics")) return MetricsRequest::kMetrics;
  if (is_get(received, "/health")) return MetricsRequest::kHealth;
  if (is_get(received, "/ready")) return MetricsRequest::kReady;
  if (is_get(received, "/ui") || received.starts_with("GET /ui/")) return MetricsRequest::kUi;
  return MetricsRequest::kNotFound;
}

std::string_view request_target(std::string_view head) {
  if (!head.starts_with("GET ")) return {};
  head.remove_prefix(4);
  return head.substr(0, head.find_first_of(" \r\n"));
}

class MetricsServer::Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(MetricsServer& server, tcp::socket s)
      : server_(server), open_(server.open_), socket_(std::move(s)), watchdog_(server.io_) {
    ++*open_;
  }
  // A connection may outlive the server (its handler, dropped with the
  // io_context): the count it updates is shared.
  ~Conn() { --*open_; }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  void start() {
    // The whole exchange, from accept: a slow client is cut off, however
    // it paces its bytes.
    watchdog_.expires_after(std::chrono::seconds(5));
    watchdog_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) {
        asio::error_code ignored;
        self->socket_.close(ignored);
      }
    });
    read();
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buf_),
                            [self = shared_from_this()](const asio::error_code& ec, size_t n) {
                              if (!ec) self->on_read(n);
                            });
  }
  void on_read(size_t n) {
    request_.append(buf_.data(), n);
    switch (parse_metrics_request(request_)) {
      case MetricsRequest::kIncomplete:
        return read();
      case MetricsRequest::kTooLarge:
        return reply("431 Too Large", "text/plain", "");
      case MetricsRequest::kMetrics:
        return reply("200 OK", "text/plain; version=0.0.4", server_.handlers_.metrics());
      case MetricsRequest::kHealth:
        return reply("200 OK", "text/plain", "ok\n");
      case MetricsRequest::kReady: {
        auto [ready, body] = server_.handlers_.ready();
        return reply(ready ? "200 OK" : "503 Service Unavailable", "application/json", body);
      }
      case MetricsRequest::kUi: {
        if (!server_.handlers_.ui) break;
        auto [type, body] = server_.handlers_.ui(request_target(request_));
        if (type == "400") return reply("400 Bad Request", "text/plain", body);
        if (type.empty()) break;
        return reply("200 OK", type.c_str(), body);
      }
      case MetricsRequest::kNotFound:
        break;
    }
    reply("404 Not Found", "text/plain", "try GET /metrics, /health, /ready or /ui\n");
  }
  void reply(const std::string& status, const char* type, const std::string& body) {
    out_ = "HTTP/1.0 " + status + "\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
           body;
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](const asio::error_code&, size_t) {
                        asio::error_code ignored;
                        self->watchdog_.cancel();
                        self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
                        self->socket_.close(ignored);
                      });
  }

  MetricsServer& server_;
  std::shared_ptr<size_t> open_;
  tcp::socket socket_;
  asio::steady_timer watchdog_;
  std::array<char, 2048> buf_{};
  std::string request_;
  std::string out_;
};

MetricsServer::MetricsServer(asio::io_context& io, Handlers handlers)
    : io_(io), handlers_(std::move(handlers)), acceptor_(io), accept_retry_(io) {}

std::string MetricsServer::open(const std::string& address) {
  auto hp = parse_host_port(address, nullptr, /*allow_port_zero=*/true);
  if (!hp) return "not host:port";
  asio::error_code ec;
  auto ip = hp->host == "localhost" ? asio::ip::make_address("127.0.0.1")
                                    : asio::ip::make_address(hp->host, ec);
  if (ec) return "not an IP address";
  tcp::endpoint at(ip, hp->port);
  acceptor_.open(at.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(at, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec.message();
  HostPort bound = *hp;
  bound.port = acceptor_.local_endpoint().port();
  address_ = bound.to_string();
  return "";
}

void MetricsServer::start() { accept(); }

void MetricsServer::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors, most likely: try again soon, not at once.
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](const asio::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    if (*open_ < kConnectionsMax) {
      std::make_shared<Conn>(*this, std::move(socket))->start();
    }  // else: closed at once (the socket goes out of scope)
    accept();
  });
}

void MetricsServer::close() {
  asio::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
}

}  // namespace shoal::node
