// Fuzz target for proto/codec.h: any bytes, as a datagram and as a frame.
//
// Besides "no crash, no sanitizer report", it checks what the codec
// promises, and traps (a crash libFuzzer reports) when a promise breaks:
//   * a failure has a bounded, non-empty detail and no value; a success has
//     a value and no detail;
//   * a decoded value re-encodes to exactly encoded_envelope_size() bytes
//     (datagrams), decodes back to an equal value, and that value encodes
//     to the same bytes again (encoding is canonical and deterministic).
// Built as a libFuzzer binary (shoal_codec_fuzzer, -DSHOAL_FUZZ=ON) and as
// a corpus replay runner run by ctest (shoal_codec_fuzz_replay).

#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "shoal/membership/messages.h"
#include "shoal/proto/codec.h"

namespace {

namespace m = ::shoal::membership;
namespace p = ::shoal::proto;

// The same cluster name as the seed corpus (make_codec_corpus.cc).
constexpr std::string_view kCluster = "prod";
constexpr size_t kDatagramBudget = 1400;
// Small, so that the fuzzer also meets the limit; inputs are short anyway.
constexpr size_t kFrameLimit = 64 * 1024;
constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();
// Longest detail the codec can produce: two quoted 32-byte names, each byte
// escaped to 4 characters, plus the field path and numbers.
constexpr size_t kDetailMax = 400;

// protobuf logs each string it rejects as invalid UTF-8 (to stderr, at
// ERROR); at fuzzing rates that would be most of the output and much of the
// time. nullptr installs protobuf's null handler.
[[maybe_unused]] const bool kProtobufQuiet = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

void check(bool ok) {
  if (!ok) __builtin_trap();
}

template <class T>
void check_shape(const p::Decoded<T>& got) {
  check(got.ok() == got.value.has_value());
  check(got.ok() == got.detail.empty());
  check(got.detail.size() <= kDetailMax);
  check(static_cast<int>(got.error) < p::kDecodeErrorCount);
}

void datagram(std::string_view bytes) {
  const p::Decoded<m::Message> got = p::decode_datagram(bytes, kCluster, kDatagramBudget);
  check_shape(got);
  if (!got.ok()) return;
  const std::string again = p::encode_datagram(kCluster, *got.value);
  check(again.size() == m::encoded_envelope_size(*got.value, kCluster.size()));
  // Re-encoding may grow (map entries with a missing key are written in
  // full), so the second decode has no budget.
  const p::Decoded<m::Message> back = p::decode_datagram(again, kCluster, kNoLimit);
  check_shape(back);
  check(back.ok() && *back.value == *got.value);
  check(p::encode_datagram(kCluster, *back.value) == again);
}

void frame(std::string_view bytes) {
  const p::Decoded<p::Frame> got = p::decode_frame(bytes, kCluster, kFrameLimit);
  check_shape(got);
  if (!got.ok()) return;
  const std::string again = p::encode_frame(kCluster, got.value->id, got.value->body);
  const p::Decoded<p::Frame> back = p::decode_frame(again, kCluster, kNoLimit);
  check_shape(back);
  check(back.ok() && *back.value == *got.value);
  check(p::encode_frame(kCluster, back.value->id, back.value->body) == again);
  // Compressed (minor 7, tables only): the same value comes back.
  const std::string packed = p::encode_frame(kCluster, got.value->id, got.value->body, true);
  const p::Decoded<p::Frame> unpacked = p::decode_frame(packed, kCluster, kNoLimit);
  check_shape(unpacked);
  check(unpacked.ok() && *unpacked.value == *got.value);
}

void frame_header(std::string_view bytes) {
  const std::optional<uint32_t> length = p::parse_frame_header(bytes);
  check(length.has_value() == (bytes.size() >= p::kFrameHeaderBytes));
  if (!length) return;
  std::string out;
  p::append_frame_header(out, *length);
  check(out == bytes.substr(0, p::kFrameHeaderBytes));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  datagram(bytes);
  frame(bytes);
  frame_header(bytes);
  return 0;
}
