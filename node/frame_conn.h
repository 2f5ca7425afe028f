// Copyright shoal authors. A framed TCP connection: what every TCP
// connection of a node shares (accepted ones, join/sync exchanges,
// forwarding links).
//
// Reads: the socket is read in big chunks that a FrameBuffer splits into
// length-prefixed frames (proto/codec.h); a frame announcing more than the
// limit is refused before any memory is reserved for it (oversized()).
// A peer that sends requests but does not read the answers stops being
// read once kQueueHigh bytes of answers wait, until it catches up.
//
// Writes: send() queues a frame; frames queued while handlers run leave
// together in one write, after the handlers already queued (a posted
// flush): a batch of pipelined requests or answers costs one read and one
// write, not two reads and a write per frame.
//
// Sealing (seal.h): frames to be sealed with one key are gathered and
// sealed together as one record when the queue is flushed:
//
//   | length N | sealed( | length | Frame | length | Frame | ... ) |
//
// so a batch of pipelined requests or answers costs one seal and one open,
// not one per frame (a third of the forwarding throughput otherwise). A
// plaintext frame is its own record, as before. Reads open each sealed
// record and hand its frames to on_frame() with the key it was sealed
// with; a record that does not open goes to unopened().
//
// Deadline: one watchdog timer per connection, re-armed lazily. Reads move
// the deadline; the timer checks it when it fires, and calls expired()
// only once the deadline has really passed (Asio's timeouts example).
//
//   read_frames --async_read_some--> on_read --frames--> on_frame (derived)
//        ^                                |
//        `-------- kNeedMore -------------'
//   send --queue--> (posted) flush --async_write--> flush again if more
//
// Lifetime: shared_ptr, held by the pending handlers. Thread safety: the
// io thread only.

#ifndef SHOAL_NODE_FRAME_CONN_H_
#define SHOAL_NODE_FRAME_CONN_H_

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shoal/node/frame_buffer.h"
#include "shoal/node/seal.h"
#include "shoal/proto/codec.h"

namespace shoal::node {

class FrameConn : public std::enable_shared_from_this<FrameConn> {
 public:
  using Clock = std::chrono::steady_clock;

  // `seal` seals what is sent (when asked) and is shared with the engine.
  FrameConn(asio::io_context& io, asio::ip::tcp::socket socket, std::shared_ptr<Seal> seal,
            uint32_t frame_bytes_max);
  virtual ~FrameConn() = default;

  FrameConn(const FrameConn&) = delete;
  FrameConn& operator=(const FrameConn&) = delete;

  // Queues a frame, sealed as `with` says, a table compressed if
  // `compress` (the peer speaks it: proto/codec.h); it is sent with
  // whatever else is queued meanwhile.
  void send(uint64_t id, const proto::FrameBody& body, SealWith with, bool compress = false);
  bool is_open() const { return socket_.is_open(); }

 protected:
  // Hooks. on_frame: a complete frame, and how it came: sealed with that
  // key, or plaintext (nullopt: not opened; the engine checks whether
  // plaintext is accepted). False: stop reading.
  virtual bool on_frame(std::string_view bytes, SealWith opened) = 0;
  // A sealed record that did not open (or held a malformed frame list).
  // False: stop reading.
  virtual bool unopened(const Seal::Opened& why) = 0;
  virtual void read_failed(const std::string& why) = 0;
  virtual void write_failed(const std::string& why) = 0;
  virtual void oversized(uint32_t length) = 0;
  virtual void expired() = 0;
  // send() was given a frame of `bytes` > frame_bytes_max: nothing of it
  // was queued. Default: write_failed() with the sizes.
  virtual void frame_too_big(size_t bytes);
  virtual bool can_write() const = 0;
  virtual void before_read() {}
  // Everything queued has been written.
  virtual void drained() {}

  void read_frames();
  void flush();
  // Reads nothing more, sends what is queued, then closes (an answer that
  // refuses the peer, then the end).
  void end_after_flush();
  // The connection expires at `t`. A later deadline is picked up lazily
  // when the timer fires; an earlier one re-arms the timer now.
  void set_deadline(Clock::time_point t);
  void close_socket();
  asio::io_context& io() { return io_; }
  Seal& seal() { return *seal_; }

  asio::ip::tcp::socket socket_;
  asio::steady_timer watchdog_;
  FrameBuffer frames_;
  // When the read that completed the frames being delivered now finished:
  // a frame's arrival, however long the handlers before it took.
  Clock::time_point read_at_{};

 private:
  void on_read(const asio::error_code& ec, size_t n);
  bool deliver(std::string_view record);
  void close_segment();
  void on_written(const asio::error_code& ec);
  void watch();

  static constexpr size_t kQueueHigh = 4u << 20;  // bytes of unsent answers
  // A record being gathered is sealed once it reaches this size.
  static constexpr size_t kSegmentMax = 256u << 10;

  asio::io_context& io_;
  std::shared_ptr<Seal> seal_;
  Clock::time_point deadline_{};
  Clock::time_point armed_at_ = Clock::time_point::max();
  std::string pending_;  // records ready to write
  std::string segment_;  // frames to seal together with segment_with_
  SealWith segment_with_;
  std::string opened_;  // the frames of the sealed record being delivered
  uint32_t frame_bytes_max_;
  std::string writing_;
  bool flush_posted_ = false;
  bool read_paused_ = false;
  bool ending_ = false;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_FRAME_CONN_H_
