// Copyright shoal authors. zstd for the codec's compressed tables
// (codec.h, Frame.zstd_body). One context per thread and direction: a
// context holds about a megabyte of tables at level 3, which a per-call
// ZSTD_compress would allocate and free every time.

#include <zstd.h>

#include <memory>
#include <optional>
#include <string>

#include "shoal/membership/assert.h"
#include "shoal/proto/codec.h"

namespace shoal::proto {

namespace {

struct FreeCCtx {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct FreeDCtx {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

std::string zstd_compress(std::string_view in, int level) {
  thread_local std::unique_ptr<ZSTD_CCtx, FreeCCtx> ctx(ZSTD_createCCtx());
  SHOAL_ASSERT(ctx != nullptr);
  std::string out(ZSTD_compressBound(in.size()), '\0');
  // ZSTD_compressCCtx writes the content size into the frame header.
  const size_t n =
      ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), in.data(), in.size(), level);
  SHOAL_ASSERT(!ZSTD_isError(n));  // only a too-small buffer fails, and it is the bound
  out.resize(n);
  return out;
}

std::optional<std::string> zstd_decompress(std::string_view in, size_t max_bytes, std::string& why,
                                           bool& too_large) {
  too_large = false;
  // Exactly one frame: its compressed size is the whole input.
  const size_t frame = ZSTD_findFrameCompressedSize(in.data(), in.size());
  if (ZSTD_isError(frame) || frame != in.size()) {
    why = "not one whole zstd frame";
    return std::nullopt;
  }
  const unsigned long long size = ZSTD_getFrameContentSize(in.data(), in.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR) {
    why = "a zstd frame that does not state its size";
    return std::nullopt;
  }
  if (size > max_bytes) {
    why = "expands to " + std::to_string(size) + " bytes, over the limit " +
          std::to_string(max_bytes);
    too_large = true;
    return std::nullopt;
  }
  thread_local std::unique_ptr<ZSTD_DCtx, FreeDCtx> ctx(ZSTD_createDCtx());
  SHOAL_ASSERT(ctx != nullptr);
  std::string out(static_cast<size_t>(size), '\0');
  const size_t n = ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n) || n != out.size()) {
    why = std::string("corrupt zstd frame: ") +
          (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "shorter than it states");
    return std::nullopt;
  }
  return out;
}

}  // namespace shoal::proto
