// Copyright shoal authors. The TCP side of a node's port: accepts
// connections from peers and the CLI and answers their frames.
//
// Each accepted connection is pipelined: frames are read continuously and
// answered through the write queue (frame_conn.h), so a forwarding peer
// keeps many requests in flight on one connection, and answers may leave
// in another order than the requests came (frame ids pair them).
//
// Timeouts: a connection idle between frames for `idle_timeout` is closed;
// a frame once begun must arrive whole within `read_timeout`, however
// slowly its bytes trickle in. Both count tcp_timeouts. An oversized frame
// (tcp_oversized, drops.too_large) or one the delegate refuses closes the
// connection.
//
// Bounds: at most connections_max connections at once (more are closed at
// once, tcp_refused). When accepting fails (out of descriptors), the next
// accept waits 100 ms (accept_errors) instead of spinning.
//
// Thread safety: the io thread only.

#ifndef SHOAL_NODE_TCP_SERVER_H_
#define SHOAL_NODE_TCP_SERVER_H_

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "shoal/node/counters.h"
#include "shoal/node/seal.h"
#include "shoal/proto/codec.h"

namespace shoal::node {

// Where an answer goes: the connection a request came in on.
class Responder {
 public:
  virtual ~Responder() = default;
  // Queues the answer to request `id`, sealed as `with` says (answers go
  // in the form the request came in); dropped if the connection closed.
  // `compress`: a table may go compressed (the asker speaks it).
  virtual void reply(uint64_t id, const proto::FrameBody& body, SealWith with,
                     bool compress = false) = 0;
  // Reads no more requests; closes once what is queued has been sent.
  virtual void close_after_replies() = 0;
  // When the frame being delivered now arrived (meaningful only inside
  // Delegate::on_frame): a request's time budget counts from there.
  virtual std::chrono::steady_clock::time_point received_at() const = 0;
  // Keeps `slot` (AnswerSlots::take) until everything queued on this
  // connection so far has been written, or the connection is gone.
  virtual void hold_until_sent(std::shared_ptr<void> slot) = 0;
};

// A bound on big answers waiting in send queues at once: full-state
// answers (join, sync) are megabytes with a full table, and a peer that
// asks for many and reads slowly must not make the node hold them all
// (memberlist caps pending push/pulls at 128 the same way). take() gives a
// slot, or nullptr when `max` are out; a slot comes back when its holder
// lets go of it (Responder::hold_until_sent). Io thread only.
class AnswerSlots {
 public:
  explicit AnswerSlots(size_t max) : max_(max) {}
  std::shared_ptr<void> take();
  size_t in_use() const { return *used_; }

 private:
  size_t max_;
  // Shared with the slots, which may outlive this.
  std::shared_ptr<size_t> used_ = std::make_shared<size_t>(0);
};

class TcpServer {
 public:
  // What the node does with what arrives; called on the io thread.
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // A complete frame from `peer` ("ip:port"). Answer through `responder`,
    // now or later (keep the shared_ptr). Return false to close the
    // connection (the frame did not decode, or is not a request).
    // `opened`: the key it came sealed with, or nullopt (plaintext).
    virtual bool on_frame(const std::string& peer, std::string_view bytes, SealWith opened,
                          const std::shared_ptr<Responder>& responder) = 0;
    // A sealed record that did not open: count it, and answer (the
    // responder) or not; false closes the connection.
    virtual bool on_unopened(const std::string& peer, const Seal::Opened& why,
                             const std::shared_ptr<Responder>& responder) = 0;
    // A frame announced `length` bytes, over the limit: closing.
    virtual void on_oversized(const std::string& peer, uint32_t length) = 0;
    // An answer to `peer` of `bytes` was over frame_bytes_max: not sent,
    // connection closed.
    virtual void on_too_big(const std::string& peer, size_t bytes) = 0;
  };

  struct Options {
    std::shared_ptr<Seal> seal;  // the engine's
    uint32_t frame_bytes_max = proto::kDefaultMaxFrameBytes;
    std::chrono::milliseconds idle_timeout{10000};
    std::chrono::milliseconds read_timeout{5000};
    // Connections open at once; one more is accepted and closed at once
    // (tcp_refused), so a flood of connections cannot use up descriptors.
    size_t connections_max = 1024;
  };

  TcpServer(asio::io_context& io, Options options, NodeCounters& counters, Delegate& delegate);

  // Binds and listens; "" on success, else why not.
  std::string open(const asio::ip::tcp::endpoint& at);
  uint16_t port() const;
  void start();
  void close();

 private:
  class Conn;
  void accept();
  void on_accept_error();

  asio::io_context& io_;
  Options options_;
  NodeCounters& counters_;
  Delegate& delegate_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  size_t connections_ = 0;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_TCP_SERVER_H_
