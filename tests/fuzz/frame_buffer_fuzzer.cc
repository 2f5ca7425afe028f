// Fuzz target for node/frame_buffer.h: a TCP byte stream, read in chunks
// of sizes the input chooses, cut into frames.
//
// Input: max_frame (2 bytes, little-endian), read_chunk - 1 (1 byte), then
// records [n][n bytes of stream]: each record is one socket read of n
// bytes (split further if write_area() offers less, as a socket would).
//
// A reference parser reads the whole stream at once; the FrameBuffer, fed
// chunk by chunk, must agree with it exactly, and traps otherwise:
//   * the frames returned are the reference's frames, in order, byte for
//     byte; each is at most max_frame bytes;
//   * kOversized comes exactly when the next header announces more than
//     max_frame (announced() says how much), and not before the header is
//     complete;
//   * bytes are accounted for: frames taken (with their headers) plus
//     partial() equal the bytes committed;
//   * memory follows bytes that arrived, never an announced length: the
//     buffer (write_area() + partial()) stays within 4 x max(read_chunk,
//     the most bytes ever held).
// Built as shoal_frame_buffer_fuzzer (libFuzzer) and as
// shoal_frame_buffer_fuzz_replay (ctest fuzz.frame_buffer_replay).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/node/frame_buffer.h"
#include "shoal/proto/codec.h"

namespace {

using shoal::node::FrameBuffer;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// What the whole stream holds, parsed at once.
struct Reference {
  std::vector<std::string> frames;
  bool oversized = false;
  uint32_t announced = 0;
  size_t consumed = 0;  // bytes of the frames, headers included
};

Reference parse_whole(std::string_view stream, uint32_t max_frame) {
  Reference r;
  while (stream.size() - r.consumed >= shoal::proto::kFrameHeaderBytes) {
    const uint32_t len = *shoal::proto::parse_frame_header(stream.substr(r.consumed));
    if (len > max_frame) {
      r.oversized = true;
      r.announced = len;
      break;
    }
    const size_t body = r.consumed + shoal::proto::kFrameHeaderBytes;
    if (stream.size() - body < len) break;
    r.frames.emplace_back(stream.substr(body, len));
    r.consumed = body + len;
  }
  return r;
}

// The FrameBuffer's side, checked against `ref` as it goes.
struct Feed {
  Feed(const Reference& reference, uint32_t max_frame_bytes, size_t read_chunk)
      : fb(max_frame_bytes, read_chunk),
        ref(reference),
        max_frame(max_frame_bytes),
        chunk_min(std::max(read_chunk, shoal::proto::kFrameHeaderBytes)) {}

  FrameBuffer fb;
  const Reference& ref;
  uint32_t max_frame;
  size_t chunk_min;      // read_chunk as the FrameBuffer clamps it
  size_t committed = 0;  // bytes given to the FrameBuffer
  size_t taken = 0;      // bytes of frames taken, headers included
  size_t frames = 0;     // frames taken
  size_t held_max = 0;   // the most bytes ever held before a read
  bool oversized = false;

  // next() until it needs more; false once the stream is oversized.
  bool drain() {
    for (;;) {
      std::string_view body;
      const FrameBuffer::Status s = fb.next(body);
      if (s == FrameBuffer::Status::kNeedMore) {
        check(committed - taken == fb.partial());
        // kNeedMore with a whole frame buffered would stall the connection.
        check(frames == ref.frames.size() ? !ref.oversized || committed < ref.consumed + 4
                                          : committed < taken + 4 + ref.frames[frames].size());
        return true;
      }
      if (s == FrameBuffer::Status::kOversized) {
        check(ref.oversized && frames == ref.frames.size());
        check(fb.announced() == ref.announced && ref.announced > max_frame);
        check(committed >= ref.consumed + shoal::proto::kFrameHeaderBytes);
        oversized = true;
        return false;
      }
      check(frames < ref.frames.size());
      check(body.size() <= max_frame);
      check(body == ref.frames[frames]);
      ++frames;
      taken += shoal::proto::kFrameHeaderBytes + body.size();
      check(committed - taken == fb.partial());
    }
  }

  // One socket read of `bytes`; false once the stream is oversized.
  bool read(std::string_view bytes) {
    do {
      const size_t held = fb.partial();
      held_max = std::max(held_max, held);
      const std::span<char> area = fb.write_area();
      check(!area.empty());
      check(area.size() + held <= 4 * std::max(chunk_min, held_max));
      const size_t n = std::min(bytes.size(), area.size());
      if (n > 0) std::memcpy(area.data(), bytes.data(), n);
      fb.commit(n);
      committed += n;
      bytes.remove_prefix(n);
      if (!drain()) return false;
    } while (!bytes.empty());
    return true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint32_t max_frame = static_cast<uint32_t>(data[0] | data[1] << 8);
  const size_t read_chunk = static_cast<size_t>(data[2]) + 1;
  // The records, and the stream they carry.
  std::vector<std::string_view> reads;
  std::string stream;
  for (size_t at = 3; at < size;) {
    const size_t n = std::min<size_t>(data[at], size - at - 1);
    reads.emplace_back(reinterpret_cast<const char*>(data + at + 1), n);
    stream.append(reads.back());
    at += 1 + n;
  }
  const Reference ref = parse_whole(stream, max_frame);
  Feed feed(ref, max_frame, read_chunk);
  for (std::string_view r : reads) {
    if (!feed.read(r)) break;
  }
  if (feed.oversized) return 0;
  // The whole stream is in: the reference's frames, all of them, and the
  // rest partial.
  check(feed.frames == ref.frames.size());
  check(feed.taken == ref.consumed);
  check(feed.fb.partial() == stream.size() - ref.consumed);
  check(!ref.oversized);
  return 0;
}
