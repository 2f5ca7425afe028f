#pragma once
// Splits a TCP byte stream into length-prefixed frames (proto/codec.h: a
// 4-byte big-endian length, then that many bytes of Frame). The owner reads
// into write_area() whatever the socket has, commit()s it, then takes every
// complete frame with next(): one read usually carries many pipelined
// frames, so a busy connection costs one recv per batch, not two per frame.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace shoal::node {

class FrameBuffer {
 public:
  enum class Status { kFrame, kNeedMore, kOversized };

  // Frames announcing more than max_frame bytes are refused before any
  // memory is reserved for them; reads ask for at least read_chunk bytes.
  explicit FrameBuffer(uint32_t max_frame, size_t read_chunk = 16 * 1024);

  // Room for the next read: at least read_chunk bytes, and for a frame
  // whose header has arrived, up to as much again as has arrived of it (a
  // big frame's buffer grows with its bytes, never to an announced length
  // ahead of them). Invalidates frame views.
  // Meant to be called once next() has returned kNeedMore.
  std::span<char> write_area();
  void commit(size_t n);

  // kFrame: `body` is the next complete frame body, valid until the next
  // write_area(). kNeedMore: no complete frame is buffered. kOversized: the
  // next frame announces more than max_frame (see announced()); the stream
  // cannot be resynchronised and should be closed.
  Status next(std::string_view& body);

  // Bytes received of a frame not yet complete (0 between frames).
  size_t partial() const { return end_ - begin_; }
  // The length the last oversized header announced.
  uint32_t announced() const { return announced_; }

 private:
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last received byte
  uint32_t max_frame_;
  size_t read_chunk_;
  uint32_t announced_ = 0;
};

}  // namespace shoal::node
