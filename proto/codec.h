// Copyright shoal authors. The codec: the only translation between the wire
// types of proto/shoal.proto (generated, package shoal.v1) and the plain
// membership:: values of membership/messages.h. Nothing else includes
// shoal.pb.h, and this header does not either, so protobuf stays out of the
// core and out of every file that includes this one. Defined in two
// halves that share no code: encode.cc and decode.cc.
//
// Contract:
//   * Decoders take a bounded byte span and a size limit, check the limit
//     before parsing, and never throw or crash, whatever the input. Every
//     failure is a value: a DecodeError (the node keeps one drop counter per
//     reason) and a detail naming the failing field, e.g.
//     "ping.changes[3].status: unknown value 9". Details are bounded (peer
//     text is quoted, escaped and cut to 32 bytes), so they are safe to log.
//   * A successful decode guarantees what the core relies on: the version
//     is kProtocolVersion, the cluster is the caller's, a body is present,
//     every Status is a known value, and every address, source, responder
//     and probe target is a canonical member address: an IP literal and a
//     port (membership/member_address.h), never a DNS name.
//   * decode(encode(v)) == v for every v that satisfies the above.
//     Re-encoding decoded bytes need not reproduce them byte for byte:
//     unknown fields (from newer peers) are dropped.
//   * Encoders are deterministic: map entries are written in key order, so
//     equal values always give equal bytes (the simulator's runs replay).
//     Precondition: strings are valid UTF-8, as proto3 `string` fields
//     require; a peer drops anything else as kMalformed. The encoded size
//     of a datagram is membership::encoded_envelope_size().
//   * Thread safety: no shared state; call from any thread.

#ifndef SHOAL_PROTO_CODEC_H_
#define SHOAL_PROTO_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shoal/membership/messages.h"

namespace shoal::proto {

// Why a datagram or frame was dropped. The node exports one counter per
// value (to_string gives the metric label), so add values at the end.
enum class DecodeError : uint8_t {
  kOk = 0,
  kMalformed,     // not a parseable Envelope/Frame: truncated, corrupt, bad UTF-8
  kTooLarge,      // over the caller's size limit; rejected before parsing
  kBadVersion,    // version is not membership::kProtocolVersion
  kWrongCluster,  // cluster name is not the receiver's
  kNoBody,        // no body, or one this codec does not handle
  kBadField,      // a field breaks the invariants above (detail names it)
  // Set by node/seal.h, not the codec:
  kDecryptFailed,     // sealed, and did not open with any key of the ring
  kPlaintextRefused,  // not sealed, and this node requires sealed messages
};
inline constexpr int kDecodeErrorCount = 9;

// "ok", "malformed", "too_large", "bad_version", "wrong_cluster", "no_body",
// "bad_field", "decrypt_failed", "plaintext_refused".
std::string_view to_string(DecodeError e);

// The result of a decode: a value, or why there is none.
template <class T>
struct Decoded {
  std::optional<T> value;  // engaged iff error == kOk
  DecodeError error = DecodeError::kOk;
  std::string detail;  // empty iff error == kOk; names the failing field
  // Datagrams: the sender says it opens sealed datagrams (Envelope field 3).
  bool opens_sealed = false;
  // The sender's protocol minor version (0: it did not say).
  uint32_t minor = 0;
  // Set by node/seal.h, not the codec: the bytes arrived sealed with a key
  // of the receiver's ring, the one with id `key_id`.
  bool sealed = false;
  uint32_t key_id = 0;
  // Frames: the body arrived compressed (Frame.zstd_body, minor 7).
  bool compressed = false;

  bool ok() const { return error == DecodeError::kOk; }
};

// ---- UDP datagrams --------------------------------------------------------
//
// One datagram is one encoded shoal.v1.Envelope, at most `max_bytes` (the
// datagram budget, default 1400). Each field is a one-byte tag
// (field_number << 3 | wire_type) then its value; proto3 leaves out fields
// holding zero or "":
//
//   +------------+------------+-------------------------------------------+
//   | 1 version  | 2 cluster  | 10..14 body: exactly one of               |
//   | varint = 1 | len, bytes | ping | ping_req | ack | nack | gossip      |
//   +------------+------------+-------------------------------------------+
//
//   body: seq, source, [target,] checksum, [want_nack,] then the
//   piggybacked changes, each one element of the repeated field:
//   +-----+-----+-------------------------------------------------+
//   | tag | len | Change: address, status, incarnation, labels,   |  x N
//   |     |     |         source, source_incarnation              |
//   +-----+-----+-------------------------------------------------+
//   (membership::encoded_change_size() is the size of one such element.)
//
// Decoding checks, in order (the first failure is reported): size, parse,
// version, cluster, body present, then the body's fields.

// `opens_sealed`: set Envelope.opens_sealed (2 more bytes).
std::string encode_datagram(std::string_view cluster, const membership::Message& message,
                            bool opens_sealed = false);
Decoded<membership::Message> decode_datagram(std::string_view bytes, std::string_view cluster,
                                             size_t max_bytes);

// ---- TCP frames -----------------------------------------------------------
//
// A TCP connection carries frames: a 4-byte big-endian length N, then N
// bytes of an encoded shoal.v1.Frame.
//
//   +--------+--------+--------+--------+------------ ... ------------+
//   |   length N (uint32, big endian)   |  Frame (N bytes)            |
//   +--------+--------+--------+--------+------------ ... ------------+
//
//   Frame:
//   +------------+------------+-----------+----------------------------------+
//   | 1 version  | 2 cluster  | 3 id      | 10..15 body: exactly one of      |
//   | varint = 1 | len, bytes | varint    | join_request | join_response |   |
//   |            |            |           | sync_request | sync_response |   |
//   |            |            |           | forward_request | forward_resp. |
//   +------------+------------+-----------+----------------------------------+
//
// The caller enforces the frame limit: it reads the header, and if N is
// above its limit (default kDefaultMaxFrameBytes) it closes the connection
// before allocating anything; otherwise it reads N bytes and passes them,
// with the same limit, to decode_frame. What follows a frame that does not
// decode (count it, close the connection) is the caller's choice too.

inline constexpr size_t kFrameHeaderBytes = 4;
// The default frame limit (shoal.proto, docs/PROTOCOL.md): a full-sync
// table of 10,000 members with a few labels each is about 1 MiB, so 16 MiB
// leaves room to grow while bounding what one peer can make us allocate.
inline constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;

// Appends `length` as 4 bytes, big endian.
void append_frame_header(std::string& out, uint32_t length);
// The length in the first kFrameHeaderBytes of `bytes` (any further bytes
// are ignored), or nullopt if there are fewer than that.
std::optional<uint32_t> parse_frame_header(std::string_view bytes);

// The frame bodies this codec handles: membership exchanges (join, sync),
// admin (node <-> CLI, JSON both ways, see shoal.proto) and forwarding.
// Admin frames:
struct AdminRequest {
  std::string command;
  std::string args_json;
  bool operator==(const AdminRequest&) const = default;
};
struct AdminResponse {
  std::string json;
  std::string error;
  bool operator==(const AdminResponse&) const = default;
};

// Request forwarding (Ringpop's handleOrProxy). `error` values are the
// proto ErrorCode values (0 = OK); node/node.h names them (ForwardError).
struct ForwardRequest {
  std::string key;
  std::string payload;
  uint64_t ring_checksum = 0;  // the sender's ring (receivers count mismatches)
  std::string source;
  uint32_t timeout_ms = 0;
  // The same on every retry of one request; with `source`, it names the
  // request, so an owner runs its handler at most once for it.
  uint64_t request_id = 0;
  // Every request of `source` with a smaller id has ended at the sender:
  // the owner may forget their answers.
  uint64_t acked_below = 0;
  std::map<std::string, std::string, std::less<>> headers{};
  std::vector<std::string> more_keys{};  // a group's keys after `key`
  uint32_t attempt = 0;
  std::string endpoint{};  // "": the default endpoint (minor 3)
  // A directed request (minor 4): the member it is for, which must be the
  // receiver; "" for a keyed request.
  std::string to_member{};
  uint32_t replica = 0;  // 1 + which of the key's owners (replicator), 0: none
  bool operator==(const ForwardRequest&) const = default;
};
struct ForwardResponse {
  uint32_t error = 0;
  std::string error_message;
  std::string payload;
  std::string handled_by;
  bool operator==(const ForwardResponse&) const = default;
};
// The highest ErrorCode value this codec accepts, and the one value below
// it that no longer exists (7, TOO_MANY_HOPS: a request never travels past
// its owner, so there are no hops to count).
inline constexpr uint32_t kForwardErrorMax = 13;
inline constexpr uint32_t kForwardErrorRemoved = 7;

using FrameBody =
    std::variant<membership::JoinRequest, membership::JoinResponse, membership::SyncRequest,
                 membership::SyncResponse, AdminRequest, AdminResponse, ForwardRequest,
                 ForwardResponse, membership::Ping, membership::Ack>;

struct Frame {
  uint64_t id = 0;  // pairs a response with its request on the connection
  FrameBody body;
  bool operator==(const Frame&) const = default;
};

// The membership exchange a frame body carries, moved out of it; nullopt if
// the body is something else. Both drivers of the core (node/, tests/sim)
// use these, so the mapping lives in one place.
std::optional<membership::TcpRequest> take_tcp_request(FrameBody& body);
std::optional<membership::TcpResponse> take_tcp_response(FrameBody& body);
FrameBody to_frame_body(membership::TcpRequest request);
FrameBody to_frame_body(membership::TcpResponse response);

// Test only: this process speaks the minor version after kProtocolMinor,
// which (for the test) adds an unknown field to every Envelope and Frame;
// shoald --test-protocol-next-minor. Call before any encoding.
void speak_next_minor_for_testing();
// The minor version this process advertises.
uint32_t advertised_minor();

// Compressed tables (minor 7, Frame.zstd_body): with `compress`, a join
// answer or sync request or answer whose body encodes to at least
// kCompressMinBytes goes as the zstd frame of its serialized body
// (level kCompressLevel), if that is smaller. Pass `compress` only for a
// peer that speaks minor 7 (membership::kMinorCompression); other bodies
// are never compressed.
inline constexpr size_t kCompressMinBytes = 1024;
inline constexpr int kCompressLevel = 3;

// The encoded Frame, without the length header.
std::string encode_frame(std::string_view cluster, uint64_t id, const FrameBody& body,
                         bool compress = false);
// Appends the frame header and the encoded Frame to `out` (a write queue).
// Returns the compressed body's size expanded (0: not compressed), which
// the receiver's frame limit bounds as it bounds the frame: a sender
// checks both against the limit.
size_t append_frame(std::string& out, std::string_view cluster, uint64_t id, const FrameBody& body,
                    bool compress = false);
// Decodes the N bytes after a frame header. Same checks and order as
// decode_datagram. A compressed body counts against `max_bytes` expanded:
// one that would expand past it is kTooLarge, undecompressed (a zstd frame
// must state its size); a corrupt one kMalformed; a compressed body that
// is not a table, or that nests another, kBadField.
Decoded<Frame> decode_frame(std::string_view bytes, std::string_view cluster, size_t max_bytes);

// zstd, for the codec (proto/compress.cc). compress: one zstd frame that
// states its content size. decompress: the content of exactly one such
// frame; nullopt and `why` if it is not one, or would expand past
// `max_bytes` (`too_large` set).
std::string zstd_compress(std::string_view in, int level);
std::optional<std::string> zstd_decompress(std::string_view in, size_t max_bytes, std::string& why,
                                           bool& too_large);

}  // namespace shoal::proto

#endif  // SHOAL_PROTO_CODEC_H_
