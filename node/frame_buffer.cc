#include "shoal/node/frame_buffer.h"

#include <algorithm>
#include <cstring>

#include "shoal/proto/codec.h"

namespace shoal::node {

FrameBuffer::FrameBuffer(uint32_t max_frame, size_t read_chunk)
    : max_frame_(max_frame), read_chunk_(std::max<size_t>(read_chunk, proto::kFrameHeaderBytes)) {}

std::span<char> FrameBuffer::write_area() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    // A big frame (a full sync) grew the buffer: give the memory back.
    if (capacity_ > 4 * read_chunk_) {
      buf_.reset();
      capacity_ = 0;
    }
  }
  size_t need = read_chunk_;
  const size_t held = end_ - begin_;
  if (held >= proto::kFrameHeaderBytes) {
    const uint32_t len = *proto::parse_frame_header(std::string_view(buf_.get() + begin_, held));
    if (len <= max_frame_ && held < proto::kFrameHeaderBytes + len) {
      // Room grows with what has arrived (at most doubling), not to the
      // announced length: a peer that announces 16 MiB and sends 4 bytes
      // makes us hold 16 KiB, not 16 MiB.
      const size_t rest = proto::kFrameHeaderBytes + len - held;
      need = std::max(need, std::min(rest, held));
    }
  }
  if (capacity_ > 4 * read_chunk_ && held + need <= 2 * read_chunk_) {
    // Grown for a big frame that is gone, while the next one is already
    // arriving (pipelined): move to a small buffer again.
    auto smaller = std::make_unique_for_overwrite<char[]>(2 * read_chunk_);
    if (held > 0) std::memcpy(smaller.get(), buf_.get() + begin_, held);
    buf_ = std::move(smaller);
    capacity_ = 2 * read_chunk_;
    begin_ = 0;
    end_ = held;
  }
  if (capacity_ - end_ < need) {
    if (begin_ > 0) {  // move the partial frame to the front
      std::memmove(buf_.get(), buf_.get() + begin_, held);
      begin_ = 0;
      end_ = held;
    }
    if (capacity_ - end_ < need) {
      const size_t grown =
          std::max(end_ + need, std::min<size_t>(capacity_ * 2, end_ + need + (1u << 20)));
      auto bigger = std::make_unique_for_overwrite<char[]>(grown);
      if (end_ > 0) std::memcpy(bigger.get(), buf_.get(), end_);
      buf_ = std::move(bigger);
      capacity_ = grown;
    }
  }
  return {buf_.get() + end_, capacity_ - end_};
}

void FrameBuffer::commit(size_t n) { end_ = std::min(end_ + n, capacity_); }

FrameBuffer::Status FrameBuffer::next(std::string_view& body) {
  const size_t held = end_ - begin_;
  if (held < proto::kFrameHeaderBytes) return Status::kNeedMore;
  const uint32_t len = *proto::parse_frame_header(std::string_view(buf_.get() + begin_, held));
  if (len > max_frame_) {
    announced_ = len;
    return Status::kOversized;
  }
  if (held - proto::kFrameHeaderBytes < len) return Status::kNeedMore;
  body = std::string_view(buf_.get() + begin_ + proto::kFrameHeaderBytes, len);
  begin_ += proto::kFrameHeaderBytes + len;
  return Status::kFrame;
}

}  // namespace shoal::node
