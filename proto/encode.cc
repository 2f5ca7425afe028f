// Copyright shoal authors. The codec's encoding half (contract and wire
// layout in codec.h): membership:: values and the node's frame bodies into
// shoal.v1 messages, serialized deterministically; the frame header; and
// the "next minor" a test may speak. decode.cc is the other half; the two
// share no code.

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <climits>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "shoal.pb.h"
#include "shoal/membership/assert.h"
#include "shoal/membership/types.h"
#include "shoal/proto/codec.h"

namespace shoal::proto {
namespace {

namespace m = ::shoal::membership;

// Serializes with map entries sorted by key. protobuf's Map iterates in
// hash order, seeded from the map's address and the CPU's cycle counter, so
// plain SerializeToString gives different bytes for equal values.
// Appends to `out`, after an optional frame header announcing the size.
void serialize_into(const google::protobuf::MessageLite& msg, std::string& out, bool header) {
  const size_t size = msg.ByteSizeLong();
  // protobuf sizes are int; callers keep messages far below (frame limit).
  SHOAL_ASSERT(size <= static_cast<size_t>(INT_MAX));
  if (header) append_frame_header(out, static_cast<uint32_t>(size));
  const size_t at = out.size();
  out.resize(at + size);
  google::protobuf::io::ArrayOutputStream array(out.data() + at, static_cast<int>(size));
  google::protobuf::io::CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);
  msg.SerializeWithCachedSizes(&coded);
}

std::string serialize(const google::protobuf::MessageLite& msg) {
  std::string out;
  serialize_into(msg, out, /*header=*/false);
  return out;
}

// ---- encoding: membership:: -> shoal.v1 -----------------------------------

template <class ProtoMap>
void put_labels(const m::Labels& in, ProtoMap& out) {
  for (const auto& [key, value] : in) out[key] = value;
}

v1::Status to_wire(m::Status s) { return static_cast<v1::Status>(s); }

void put(const m::Change& in, v1::Change& out) {
  out.set_name(in.name);
  out.set_status(to_wire(in.status));
  out.set_incarnation(in.incarnation);
  put_labels(in.labels, *out.mutable_labels());
  out.set_source(in.source);
  out.set_source_incarnation(in.source_incarnation);
  // A default name is the address: nothing more on the wire.
  if (in.address != in.name) out.set_address(in.address);
}

template <class ProtoChanges>
void put_changes(const std::vector<m::Change>& in, ProtoChanges& out) {
  out.Reserve(static_cast<int>(in.size()));
  for (const m::Change& c : in) put(c, *out.Add());
}

void put(const m::AppMessage& in, v1::AppMessage& out) {
  out.set_kind(static_cast<v1::AppKind>(in.kind));
  out.set_origin(in.origin);
  out.set_epoch(in.epoch);
  out.set_seq(in.seq);
  out.set_name(in.name);
  out.set_payload(in.payload);
  out.set_coalesce(in.coalesce);
  out.set_reply_to(in.reply_to);
  out.set_timeout_ms(in.timeout_ms);
  out.set_want_ack(in.want_ack);
  for (const std::string& n : in.filter_names) out.add_filter_names(n);
  put_labels(in.filter_labels, *out.mutable_filter_labels());
  out.set_query_id(in.id);
}

template <class ProtoApp>
void put_app(const std::vector<m::AppMessage>& in, ProtoApp& out) {
  out.Reserve(static_cast<int>(in.size()));
  for (const m::AppMessage& a : in) put(a, *out.Add());
}

void put(const m::MemberState& in, v1::Member& out) {
  out.set_name(in.name);
  out.set_status(to_wire(in.status));
  out.set_incarnation(in.incarnation);
  put_labels(in.labels, *out.mutable_labels());
  if (in.address != in.name) out.set_address(in.address);
}

template <class ProtoMembers>
void put_members(const std::vector<m::MemberState>& in, ProtoMembers& out) {
  out.Reserve(static_cast<int>(in.size()));
  for (const m::MemberState& s : in) put(s, *out.Add());
}

void fill(const m::Ping& in, v1::Ping& out) {
  out.set_seq(in.seq);
  out.set_source(in.source);
  out.set_target(in.target);
  out.set_checksum(in.checksum);
  put_changes(in.changes, *out.mutable_changes());
  put_app(in.app, *out.mutable_app());
}

void put(const m::Ping& in, v1::Envelope& env) { fill(in, *env.mutable_ping()); }
void put(const m::Ping& in, v1::Frame& frame) { fill(in, *frame.mutable_ping()); }

void put(const m::PingReq& in, v1::Envelope& env) {
  v1::PingReq& out = *env.mutable_ping_req();
  out.set_seq(in.seq);
  out.set_source(in.source);
  out.set_target(in.target);
  out.set_checksum(in.checksum);
  out.set_want_nack(in.want_nack);
  put_changes(in.changes, *out.mutable_changes());
  put_app(in.app, *out.mutable_app());
}

void fill(const m::Ack& in, v1::Ack& out) {
  out.set_seq(in.seq);
  out.set_source(in.source);
  out.set_checksum(in.checksum);
  put_changes(in.changes, *out.mutable_changes());
  put_app(in.app, *out.mutable_app());
}
void put(const m::Ack& in, v1::Envelope& env) { fill(in, *env.mutable_ack()); }
void put(const m::Ack& in, v1::Frame& frame) { fill(in, *frame.mutable_ack()); }

void put(const m::Nack& in, v1::Envelope& env) {
  v1::Nack& out = *env.mutable_nack();
  out.set_seq(in.seq);
  out.set_source(in.source);
  put_changes(in.changes, *out.mutable_changes());
  put_app(in.app, *out.mutable_app());
}

void put(const m::Gossip& in, v1::Envelope& env) {
  v1::Gossip& out = *env.mutable_gossip();
  out.set_source(in.source);
  out.set_checksum(in.checksum);
  put_changes(in.changes, *out.mutable_changes());
  put_app(in.app, *out.mutable_app());
}

void put(const m::QueryAnswer& in, v1::Envelope& env) {
  v1::QueryAnswer& out = *env.mutable_query_answer();
  out.set_id(in.id);
  out.set_source(in.source);
  out.set_ack(in.ack);
  out.set_payload(in.payload);
}

void put(const m::JoinRequest& in, v1::Frame& frame) {
  v1::JoinRequest& out = *frame.mutable_join_request();
  out.set_source(in.source);
  out.set_incarnation(in.incarnation);
  put_labels(in.labels, *out.mutable_labels());
  if (in.address != in.source) out.set_address(in.address);
  out.set_app_state(in.app_state);
}

void put(const m::JoinResponse& in, v1::Frame& frame) {
  v1::JoinResponse& out = *frame.mutable_join_response();
  out.set_responder(in.responder);
  out.set_checksum(in.checksum);
  put_members(in.members, *out.mutable_members());
  out.set_app_state(in.app_state);
}

void put(const m::SyncRequest& in, v1::Frame& frame) {
  v1::SyncRequest& out = *frame.mutable_sync_request();
  out.set_source(in.source);
  out.set_checksum(in.checksum);
  put_members(in.members, *out.mutable_members());
  out.set_app_state(in.app_state);
}

void put(const AdminRequest& in, v1::Frame& frame) {
  auto& out = *frame.mutable_admin_request();
  out.set_command(in.command);
  out.set_args_json(in.args_json);
}

void put(const AdminResponse& in, v1::Frame& frame) {
  auto& out = *frame.mutable_admin_response();
  out.set_json(in.json);
  out.set_error(in.error);
}

void put(const ForwardRequest& in, v1::Frame& frame) {
  auto& out = *frame.mutable_forward_request();
  out.set_key(in.key);
  out.set_payload(in.payload);
  out.set_ring_checksum(in.ring_checksum);
  out.set_source(in.source);
  out.set_timeout_ms(in.timeout_ms);
  out.set_request_id(in.request_id);
  out.set_acked_below(in.acked_below);
  for (const auto& [name, value] : in.headers) (*out.mutable_headers())[name] = value;
  for (const std::string& k : in.more_keys) out.add_more_keys(k);
  out.set_attempt(in.attempt);
  out.set_endpoint(in.endpoint);
  out.set_to_member(in.to_member);
  out.set_replica(in.replica);
}

void put(const ForwardResponse& in, v1::Frame& frame) {
  auto& out = *frame.mutable_forward_response();
  out.set_error(static_cast<v1::ErrorCode>(in.error));
  out.set_error_message(in.error_message);
  out.set_payload(in.payload);
  out.set_handled_by(in.handled_by);
}

void put(const m::SyncResponse& in, v1::Frame& frame) {
  v1::SyncResponse& out = *frame.mutable_sync_response();
  out.set_responder(in.responder);
  out.set_checksum(in.checksum);
  put_members(in.members, *out.mutable_members());
  out.set_app_state(in.app_state);
}

}  // namespace

void append_frame_header(std::string& out, uint32_t length) {
  const char bytes[kFrameHeaderBytes] = {static_cast<char>(length >> 24),
                                         static_cast<char>(length >> 16),
                                         static_cast<char>(length >> 8), static_cast<char>(length)};
  out.append(bytes, kFrameHeaderBytes);
}

namespace {
bool next_minor = false;
// What the test's "next minor" adds: field 1000, a varint 1. Unknown to
// every build, so decoders skip it as they would a field of a newer one.
constexpr char kNextMinorField[] = "\xc0\x3e\x01";

template <class Proto>
void set_minor(Proto& msg) {
  msg.set_minor_version(advertised_minor());
}
// Fields may come in any order: the "next minor"'s is appended.
std::string with_next_minor(std::string bytes) {
  if (next_minor) bytes.append(kNextMinorField, 3);
  return bytes;
}
}  // namespace

void speak_next_minor_for_testing() { next_minor = true; }
uint32_t advertised_minor() { return m::kProtocolMinor + (next_minor ? 1 : 0); }

std::string encode_datagram(std::string_view cluster, const m::Message& message,
                            bool opens_sealed) {
  v1::Envelope env;
  env.set_version(m::kProtocolVersion);
  env.set_cluster(cluster.data(), cluster.size());
  env.set_opens_sealed(opens_sealed);
  set_minor(env);
  std::visit([&env](const auto& body) { put(body, env); }, message);
  return with_next_minor(serialize(env));
}

FrameBody to_frame_body(m::TcpRequest request) {
  return std::visit([](auto& r) -> FrameBody { return std::move(r); }, request);
}

FrameBody to_frame_body(m::TcpResponse response) {
  return std::visit([](auto& r) -> FrameBody { return std::move(r); }, response);
}

namespace {

// Only membership tables are worth compressing (codec.h).
bool is_table(const FrameBody& body) {
  return std::holds_alternative<m::JoinResponse>(body) ||
         std::holds_alternative<m::SyncRequest>(body) ||
         std::holds_alternative<m::SyncResponse>(body);
}

// `expanded`: the compressed body's size once expanded (0: not compressed).
v1::Frame to_proto(std::string_view cluster, uint64_t id, const FrameBody& body, bool compress,
                   size_t& expanded) {
  v1::Frame frame;
  std::visit([&frame](const auto& b) { put(b, frame); }, body);
  expanded = 0;
  if (compress && is_table(body)) {
    // The body alone, serialized: what the receiver expands and parses.
    const std::string plain = serialize(frame);
    if (plain.size() >= kCompressMinBytes) {
      std::string packed = zstd_compress(plain, kCompressLevel);
      if (packed.size() < plain.size()) {
        frame.Clear();
        frame.set_zstd_body(std::move(packed));
        expanded = plain.size();
      }
    }
  }
  frame.set_version(m::kProtocolVersion);
  frame.set_cluster(cluster.data(), cluster.size());
  frame.set_id(id);
  set_minor(frame);
  return frame;
}

}  // namespace

std::string encode_frame(std::string_view cluster, uint64_t id, const FrameBody& body,
                         bool compress) {
  size_t expanded = 0;
  return with_next_minor(serialize(to_proto(cluster, id, body, compress, expanded)));
}

size_t append_frame(std::string& out, std::string_view cluster, uint64_t id, const FrameBody& body,
                    bool compress) {
  size_t expanded = 0;
  if (next_minor) {
    const std::string bytes =
        with_next_minor(serialize(to_proto(cluster, id, body, compress, expanded)));
    append_frame_header(out, static_cast<uint32_t>(bytes.size()));
    out += bytes;
    return expanded;
  }
  serialize_into(to_proto(cluster, id, body, compress, expanded), out, /*header=*/true);
  return expanded;
}

}  // namespace shoal::proto
