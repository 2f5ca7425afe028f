// Copyright shoal authors. See frame_conn.h.

#include "shoal/node/frame_conn.h"

#include <algorithm>
#include <asio/post.hpp>
#include <asio/write.hpp>

namespace shoal::node {

FrameConn::FrameConn(asio::io_context& io, asio::ip::tcp::socket socket, std::shared_ptr<Seal> seal,
                     uint32_t frame_bytes_max)
    : socket_(std::move(socket)),
      watchdog_(io),
      // A sealed record holds a frame of up to the limit, plus the seal
      // and the frame's own length header.
      frames_(frame_bytes_max + static_cast<uint32_t>(kSealOverhead + proto::kFrameHeaderBytes)),
      io_(io),
      seal_(std::move(seal)),
      frame_bytes_max_(frame_bytes_max) {}

void FrameConn::send(uint64_t id, const proto::FrameBody& body, SealWith with, bool compress) {
  const bool plain = !with || seal_->mode() == Encryption::kOff;
  if (plain) {
    close_segment();  // keeps the order
  } else {
    if (!segment_.empty() && segment_with_ != with) close_segment();
    segment_with_ = with;
  }
  std::string& out = plain ? pending_ : segment_;
  const size_t before = out.size();
  const size_t expanded = proto::append_frame(out, seal_->cluster(), id, body, compress);
  // A compressed table counts expanded too: the peer bounds both.
  const size_t bytes = std::max(out.size() - before - proto::kFrameHeaderBytes, expanded);
  if (bytes > frame_bytes_max_) {
    // Never sent cut short, and never sent for the peer to refuse: the
    // caller hears why (a membership table too big for one frame, say).
    out.resize(before);
    return frame_too_big(bytes);
  }
  if (!plain && segment_.size() >= kSegmentMax) close_segment();
  if (flush_posted_ || !writing_.empty()) return;
  flush_posted_ = true;  // one flush (and one seal) for all that is sent meanwhile
  asio::post(io_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void FrameConn::frame_too_big(size_t bytes) {
  write_failed("a frame of " + std::to_string(bytes) + " bytes is over frame_bytes_max " +
               std::to_string(frame_bytes_max_));
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
  read_at_ = Clock::now();
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
        if (!deliver(body) || ending_) return;
        break;
    }
  }
}

bool FrameConn::deliver(std::string_view record) {
  if (record.empty() || static_cast<unsigned char>(record[0]) != kSealedMarker) {
    return on_frame(record, std::nullopt);
  }
  Seal::Opened o = seal_->open(Seal::Channel::kFrame, record);
  if (!o.ok()) return unopened(o);
  // Copied: a handler below may open other records before we are done.
  opened_.assign(o.plain);
  std::string_view rest = opened_;
  while (!rest.empty()) {
    const std::optional<uint32_t> n = proto::parse_frame_header(rest);
    if (!n || *n > rest.size() - proto::kFrameHeaderBytes || *n > frame_bytes_max_) {
      Seal::Opened bad;
      bad.error = proto::DecodeError::kMalformed;
      bad.detail = "a sealed record whose frames do not add up";
      return unopened(bad);
    }
    const std::string_view frame = rest.substr(proto::kFrameHeaderBytes, *n);
    rest.remove_prefix(proto::kFrameHeaderBytes + *n);
    if (!on_frame(frame, SealWith(o.key_id)) || ending_) return false;
  }
  return true;
}

void FrameConn::close_segment() {
  if (segment_.empty()) return;
  proto::append_frame_header(pending_, static_cast<uint32_t>(segment_.size() + kSealOverhead));
  seal_->seal(Seal::Channel::kFrame, segment_, pending_, segment_with_);
  segment_.clear();
  if (segment_.capacity() > kSegmentMax * 2) std::string().swap(segment_);
}

void FrameConn::end_after_flush() {
  ending_ = true;
  if (writing_.empty() && pending_.empty() && segment_.empty()) close_socket();
}

void FrameConn::flush() {
  if (writing_.empty()) close_segment();
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
  if (writing_.empty() && pending_.empty() && segment_.empty()) drained();
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
