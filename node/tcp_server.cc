// Copyright shoal authors. See tcp_server.h.

#include "shoal/node/tcp_server.h"

#include <vector>

#include "shoal/node/frame_conn.h"

namespace shoal::node {

using asio::ip::tcp;

class TcpServer::Conn final : public FrameConn, public Responder {
 public:
  Conn(TcpServer& server, tcp::socket s)
      : FrameConn(server.io_, std::move(s), server.options_.seal, server.options_.frame_bytes_max),
        server_(server) {
    ++server_.connections_;
    asio::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
    socket_.set_option(tcp::no_delay(true), ec);
  }
  ~Conn() override { --server_.connections_; }
  void start() { read_frames(); }

  void reply(uint64_t id, const proto::FrameBody& body, SealWith with, bool compress) override {
    if (socket_.is_open()) send(id, body, with, compress);
  }
  void close_after_replies() override { end_after_flush(); }
  Clock::time_point received_at() const override { return read_at_; }
  void hold_until_sent(std::shared_ptr<void> slot) override {
    if (socket_.is_open()) held_.push_back(std::move(slot));
  }

 private:
  void before_read() override {
    // Idle between frames; a frame once begun must arrive whole within
    // the read timeout, however slowly its bytes trickle in.
    const auto now = Clock::now();
    if (frames_.partial() == 0) {
      set_deadline(now + server_.options_.idle_timeout);
    } else if (frame_mark_ != frames_seen_ || !in_frame_) {
      set_deadline(now + server_.options_.read_timeout);
    }
    in_frame_ = frames_.partial() > 0;
    frame_mark_ = frames_seen_;
  }
  void expired() override {
    ++server_.counters_.tcp_timeouts;
    close_socket();
  }
  void drained() override { held_.clear(); }
  void read_failed(const std::string&) override { close_socket(); }
  void write_failed(const std::string&) override { close_socket(); }
  bool can_write() const override { return socket_.is_open(); }
  void frame_too_big(size_t bytes) override {
    ++server_.counters_.tcp_frames_too_big;
    server_.delegate_.on_too_big(peer_, bytes);
    close_socket();
  }
  void oversized(uint32_t length) override {
    // Refused before allocating: a peer cannot make us reserve memory.
    ++server_.counters_.tcp_oversized;
    server_.delegate_.on_oversized(peer_, length);
    close_socket();
  }
  bool unopened(const Seal::Opened& why) override {
    ++frames_seen_;
    const std::shared_ptr<Responder> self = std::static_pointer_cast<Conn>(shared_from_this());
    if (!server_.delegate_.on_unopened(peer_, why, self)) {
      ++server_.counters_.tcp_bad_frames;
      close_socket();
      return false;
    }
    return socket_.is_open();
  }
  bool on_frame(std::string_view bytes, SealWith opened) override {
    ++frames_seen_;
    ++server_.counters_.tcp_frames_in;
    const std::shared_ptr<Responder> self = std::static_pointer_cast<Conn>(shared_from_this());
    if (!server_.delegate_.on_frame(peer_, bytes, opened, self)) {
      ++server_.counters_.tcp_bad_frames;
      close_socket();
      return false;
    }
    return socket_.is_open();
  }

  TcpServer& server_;
  std::vector<std::shared_ptr<void>> held_;  // slots until the queue drains
  std::string peer_;
  uint64_t frames_seen_ = 0;
  uint64_t frame_mark_ = 0;  // frames_seen_ at the last read
  bool in_frame_ = false;
};

std::shared_ptr<void> AnswerSlots::take() {
  if (*used_ >= max_) return nullptr;
  ++*used_;
  // Non-null (a null shared_ptr tests false, like no slot).
  return std::shared_ptr<void>(used_.get(), [used = used_](void*) { --*used; });
}

TcpServer::TcpServer(asio::io_context& io, Options options, NodeCounters& counters,
                     Delegate& delegate)
    : io_(io),
      options_(std::move(options)),
      counters_(counters),
      delegate_(delegate),
      acceptor_(io),
      backoff_(io) {}

std::string TcpServer::open(const tcp::endpoint& at) {
  asio::error_code ec;
  acceptor_.open(at.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(at, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  return ec ? ec.message() : "";
}

uint16_t TcpServer::port() const {
  asio::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void TcpServer::start() { accept(); }

void TcpServer::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) return on_accept_error();
    ++counters_.tcp_accepted;
    if (connections_ >= options_.connections_max) {
      ++counters_.tcp_refused;
      asio::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Conn>(*this, std::move(socket))->start();
    }
    accept();
  });
}

// Out of descriptors (or another accept error): retrying at once would
// spin on the same error. Wait, then accept again.
void TcpServer::on_accept_error() {
  ++counters_.accept_errors;
  backoff_.expires_after(std::chrono::milliseconds(100));
  backoff_.async_wait([this](const asio::error_code& ec) {
    if (!ec && acceptor_.is_open()) accept();
  });
}

void TcpServer::close() {
  asio::error_code ignored;
  backoff_.cancel();
  acceptor_.close(ignored);
}

}  // namespace shoal::node
