// Copyright shoal authors. Compressed tables (protocol minor 7,
// Frame.zstd_body): round trips, what is never compressed, and attacks on
// the decompressor: a bomb over the frame limit, a frame that hides its
// size, corrupt and concatenated frames, nesting, and a compressed body
// that is no table.

#include <gtest/gtest.h>
#include <zstd.h>

#include <string>
#include <variant>
#include <vector>

#include "shoal.pb.h"
#include "shoal/membership/messages.h"
#include "shoal/proto/codec.h"

namespace shoal::proto {
namespace {

namespace m = ::shoal::membership;

constexpr size_t kLimit = 1 << 20;

m::SyncResponse table(size_t n) {
  m::SyncResponse r{"10.0.0.1:7946", 0x5eed, {}};
  for (size_t i = 0; i < n; ++i) {
    m::MemberState s;
    s.name = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":7946";
    s.incarnation = 1796000000000 + i * 7;
    s.labels = {{"zone", "eu-west-" + std::to_string(i % 3)}};
    r.members.push_back(std::move(s));
  }
  return r;
}

// A frame whose zstd_body is `packed`.
std::string frame_with(const std::string& packed) {
  v1::Frame f;
  f.set_version(m::kProtocolVersion);
  f.set_cluster("c");
  f.set_id(9);
  f.set_minor_version(m::kProtocolMinor);
  f.set_zstd_body(packed);
  return f.SerializeAsString();
}

// The zstd frame of a Frame that holds only `body`.
std::string packed_body(const FrameBody& body) {
  const std::string whole = encode_frame("", 0, body);
  return zstd_compress(whole, 3);
}

TEST(CompressedTables, ATableRoundTripsSmallerAndSaysItCameCompressed) {
  const FrameBody body = table(300);
  const std::string plain = encode_frame("c", 7, body);
  const std::string packed = encode_frame("c", 7, body, /*compress=*/true);
  EXPECT_LT(packed.size() * 2, plain.size()) << plain.size() << " -> " << packed.size();
  auto d = decode_frame(packed, "c", kLimit);
  ASSERT_TRUE(d.ok()) << d.detail;
  EXPECT_TRUE(d.compressed);
  EXPECT_EQ(d.minor, m::kProtocolMinor);
  EXPECT_EQ(d.value->id, 7u);
  EXPECT_EQ(d.value->body, body);
  auto p = decode_frame(plain, "c", kLimit);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p.compressed);
  // Each table kind: a join answer and a sync request too.
  const FrameBody join = m::JoinResponse{"10.0.0.2:1", 1, table(100).members, "state"};
  const FrameBody sync = m::SyncRequest{"10.0.0.2:1", 1, table(100).members, ""};
  for (const FrameBody& b : {join, sync}) {
    auto r = decode_frame(encode_frame("c", 1, b, true), "c", kLimit);
    ASSERT_TRUE(r.ok()) << r.detail;
    EXPECT_TRUE(r.compressed) << b.index();
    EXPECT_EQ(r.value->body, b);
  }
}

TEST(CompressedTables, SmallTablesAndOtherBodiesAreNeverCompressed) {
  const FrameBody small = table(2);
  EXPECT_EQ(encode_frame("c", 1, small, true), encode_frame("c", 1, small));
  ForwardRequest big;
  big.key = "k";
  big.source = "a:1";
  big.payload = std::string(100000, 'x');
  EXPECT_EQ(encode_frame("c", 1, big, true), encode_frame("c", 1, big));
  const FrameBody join_request = m::JoinRequest{"a:1", 1, {}, "", std::string(5000, 's')};
  EXPECT_EQ(encode_frame("c", 1, join_request, true), encode_frame("c", 1, join_request));
}

TEST(CompressedTables, TheSenderReportsTheExpandedSizeItMustBound) {
  std::string out;
  const size_t expanded = append_frame(out, "c", 1, table(300), true);
  EXPECT_GT(expanded, out.size());
  // The body alone: the whole plain frame less its header fields.
  EXPECT_LT(expanded, encode_frame("c", 1, table(300)).size());
  EXPECT_GT(expanded + 16, encode_frame("c", 1, table(300)).size());
  std::string plain;
  EXPECT_EQ(append_frame(plain, "c", 1, table(300), false), 0u);
}

TEST(CompressedTables, ABombOverTheLimitIsRefusedBeforeExpanding) {
  // 64 MiB of one member's labels squeezed into a few KiB.
  m::SyncResponse huge{"a:1", 1, {}};
  m::MemberState s;
  s.name = "10.0.0.1:1";
  s.labels = {{"blob", std::string(size_t{64} << 20, 'z')}};
  huge.members.push_back(s);
  const std::string wire = frame_with(packed_body(huge));
  ASSERT_LT(wire.size(), 64u << 10);
  auto d = decode_frame(wire, "c", kLimit);
  EXPECT_EQ(d.error, DecodeError::kTooLarge);
  EXPECT_NE(d.detail.find("expands to"), std::string::npos) << d.detail;
}

TEST(CompressedTables, AFrameThatHidesItsSizeIsRefused) {
  const std::string whole = encode_frame("", 0, table(50));
  // A frame header without the content size.
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ASSERT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)));
  std::string out(ZSTD_compressBound(whole.size()), '\0');
  ZSTD_outBuffer o{out.data(), out.size(), 0};
  ZSTD_inBuffer i{whole.data(), whole.size(), 0};
  ASSERT_EQ(ZSTD_compressStream2(c, &o, &i, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(c);
  out.resize(o.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(out.data(), out.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  auto d = decode_frame(frame_with(out), "c", kLimit);
  EXPECT_EQ(d.error, DecodeError::kMalformed);
  EXPECT_NE(d.detail.find("does not state its size"), std::string::npos) << d.detail;
}

TEST(CompressedTables, CorruptTruncatedAndConcatenatedFramesAreMalformed) {
  const std::string good = packed_body(table(100));
  std::string flipped = good;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5a);
  const std::string truncated = good.substr(0, good.size() - 3);
  const std::string twice = good + good;
  for (const std::string& bad : {flipped, truncated, twice, std::string("garbage")}) {
    auto d = decode_frame(frame_with(bad), "c", kLimit);
    EXPECT_EQ(d.error, DecodeError::kMalformed) << d.detail;
    EXPECT_FALSE(d.value.has_value());
  }
}

TEST(CompressedTables, OnlyTablesAndNoNestingInside) {
  // A forwarded request, compressed by hand: not a table.
  ForwardRequest fr;
  fr.key = "k";
  fr.source = "a:1";
  auto d = decode_frame(frame_with(packed_body(fr)), "c", kLimit);
  EXPECT_EQ(d.error, DecodeError::kBadField);
  EXPECT_NE(d.detail.find("only join answers"), std::string::npos) << d.detail;
  // A compressed body inside a compressed body.
  v1::Frame inner;
  inner.set_zstd_body(packed_body(table(10)));
  d = decode_frame(frame_with(zstd_compress(inner.SerializeAsString(), 3)), "c", kLimit);
  EXPECT_EQ(d.error, DecodeError::kBadField);
  // Garbage that expands: not a Frame.
  d = decode_frame(frame_with(zstd_compress(std::string(64, '\xff'), 3)), "c", kLimit);
  EXPECT_EQ(d.error, DecodeError::kMalformed);
  // The outer frame's header is still checked first.
  d = decode_frame(frame_with(packed_body(table(10))), "other", kLimit);
  EXPECT_EQ(d.error, DecodeError::kWrongCluster);
}

}  // namespace
}  // namespace shoal::proto
