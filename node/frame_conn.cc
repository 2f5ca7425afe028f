// Copyright shoal authors. See frame_conn.h.

#include "node/frame_conn.h"

#include <asio/post.hpp>
#include <asio/write.hpp>

namespace shoal::node {

FrameConn::FrameConn(asio::io_context& io, asio::ip::tcp::socket socket, std::shared_ptr<Seal> seal,
                     uint32_t frame_bytes_max)
    : socket_(std::move(socket)),
      watchdog_(io),
      frames_(frame_bytes_max),
      io_(io),
      seal_(std::move(seal)) {}

void FrameConn::send(uint64_t id, const proto::FrameBody& body, SealWith with) {
  seal_->append_frame(pending_, id, body, with);
  if (flush_posted_ || !writing_.empty()) return;
  flush_posted_ = true;
  asio::post(io_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void FrameConn::read_frames() {
  before_read();
  const std::span<char> area = frames_.write_area();
  socket_.async_read_some(
      asio::buffer(area.data(), area.size()),
      [self = shared_from_this()](const asio::error_code& ec, size_t n) { self->on_read(ec, n); });
}

void FrameConn::on_read(const asio::error_code& ec, size_t n) {
  if (ec) return read_failed("read: " + ec.message());
  frames_.commit(n);
  std::string_view body;
  for (;;) {
    switch (frames_.next(body)) {
      case FrameBuffer::Status::kNeedMore:
        // A peer that sends requests but does not read the answers stops
        // being read until it catches up.
        if (pending_.size() + writing_.size() > kQueueHigh) {
          read_paused_ = true;
          return;
        }
        return read_frames();
      case FrameBuffer::Status::kOversized:
        return oversized(frames_.announced());
      case FrameBuffer::Status::kFrame:
        if (!on_frame(body) || ending_) return;
        break;
    }
  }
}

void FrameConn::end_after_flush() {
  ending_ = true;
  if (writing_.empty() && pending_.empty()) close_socket();
}

void FrameConn::flush() {
  if (ending_ && writing_.empty() && pending_.empty()) return close_socket();
  if (!writing_.empty() || pending_.empty() || !can_write()) return;
  writing_.swap(pending_);
  asio::async_write(
      socket_, asio::buffer(writing_),
      [self = shared_from_this()](const asio::error_code& ec, size_t) { self->on_written(ec); });
}

void FrameConn::on_written(const asio::error_code& ec) {
  if (ec) return write_failed("send: " + ec.message());
  writing_.clear();
  // One big answer must not pin its memory for the connection's lifetime.
  if (writing_.capacity() > kQueueHigh) std::string().swap(writing_);
  flush();
  if (read_paused_ && pending_.size() + writing_.size() <= kQueueHigh / 2) {
    read_paused_ = false;
    read_frames();
  }
}

void FrameConn::set_deadline(Clock::time_point t) {
  deadline_ = t;
  if (t < armed_at_) watch();
}

void FrameConn::watch() {
  armed_at_ = deadline_;
  watchdog_.expires_at(deadline_);
  watchdog_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec || !self->socket_.is_open()) return;
    if (Clock::now() < self->deadline_) return self->watch();
    self->armed_at_ = Clock::time_point::max();  // stopped: the next deadline re-arms
    self->expired();
  });
}

void FrameConn::close_socket() {
  asio::error_code ignored;
  watchdog_.cancel();
  socket_.close(ignored);
}

}  // namespace shoal::node
