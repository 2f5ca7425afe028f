// Copyright shoal authors. The codec (contract and wire layout in codec.h).
//
// Decoding parses into the generated types, then checks each field and
// moves it into the membership:: value, so the parser's strings are moved,
// not copied (label keys excepted: protobuf map keys are const). Checks
// report the first failure only: the node counts drops, it does not
// diagnose peers.

#include "shoal/proto/codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>

#include <climits>
#include <string>
#include <utility>
#include <vector>

#include "shoal.pb.h"
#include "shoal/membership/assert.h"
#include "shoal/membership/member_address.h"
#include "shoal/membership/types.h"

namespace shoal::proto {
namespace {

namespace m = ::shoal::membership;

// Peer-supplied text in a detail is cut to this many bytes: details are
// logged, and a 1400-byte cluster name in every log line helps nobody.
constexpr size_t kQuoteMax = 32;

// `s` in single quotes, bytes outside printable ASCII as \xNN, cut to
// kQuoteMax bytes.
std::string quoted(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kQuoteMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  out += s.size() > kQuoteMax ? "'..." : "'";
  return out;
}

template <class T>
Decoded<T> fail(DecodeError error, std::string detail) {
  return Decoded<T>{std::nullopt, error, std::move(detail)};
}

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

// Parses `bytes` into `msg` after the size check. Returns the error, or
// kOk. An empty span is a valid (empty) message: the version check catches
// it with a clearer detail than "malformed".
DecodeError parse(std::string_view bytes, size_t max_bytes, google::protobuf::MessageLite& msg) {
  if (bytes.size() > max_bytes || bytes.size() > static_cast<size_t>(INT_MAX)) {
    return DecodeError::kTooLarge;
  }
  if (bytes.empty()) return DecodeError::kOk;
  // protobuf logs one stderr line per string field that is not UTF-8: a
  // peer could flood the log. The caller counts the drop instead.
  // (LogSilencer is protobuf 3.x, as Debian 12 ships; protobuf 22+ logs
  // through absl and would need absl's log sink here instead.)
  const google::protobuf::LogSilencer quiet;
  return msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ? DecodeError::kOk
                                                                          : DecodeError::kMalformed;
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
}

void fill(const m::Ack& in, v1::Ack& out) {
  out.set_seq(in.seq);
  out.set_source(in.source);
  out.set_checksum(in.checksum);
  put_changes(in.changes, *out.mutable_changes());
}
void put(const m::Ack& in, v1::Envelope& env) { fill(in, *env.mutable_ack()); }
void put(const m::Ack& in, v1::Frame& frame) { fill(in, *frame.mutable_ack()); }

void put(const m::Nack& in, v1::Envelope& env) {
  v1::Nack& out = *env.mutable_nack();
  out.set_seq(in.seq);
  out.set_source(in.source);
  put_changes(in.changes, *out.mutable_changes());
}

void put(const m::Gossip& in, v1::Envelope& env) {
  v1::Gossip& out = *env.mutable_gossip();
  out.set_source(in.source);
  out.set_checksum(in.checksum);
  put_changes(in.changes, *out.mutable_changes());
}

void put(const m::JoinRequest& in, v1::Frame& frame) {
  v1::JoinRequest& out = *frame.mutable_join_request();
  out.set_source(in.source);
  out.set_incarnation(in.incarnation);
  put_labels(in.labels, *out.mutable_labels());
  if (in.address != in.source) out.set_address(in.address);
}

void put(const m::JoinResponse& in, v1::Frame& frame) {
  v1::JoinResponse& out = *frame.mutable_join_response();
  out.set_responder(in.responder);
  out.set_checksum(in.checksum);
  put_members(in.members, *out.mutable_members());
}

void put(const m::SyncRequest& in, v1::Frame& frame) {
  v1::SyncRequest& out = *frame.mutable_sync_request();
  out.set_source(in.source);
  out.set_checksum(in.checksum);
  put_members(in.members, *out.mutable_members());
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
}

// ---- decoding: shoal.v1 -> membership:: -----------------------------------
//
// take() checks a generated message and moves it into its value. It
// returns "" or the problem: for a body, with the full path ("ping.source:
// empty"); for a list element, relative to it ("status: unknown value 9"),
// which take_list prefixes with the element's path. Paths are built only on
// failure.

template <class ProtoMap>
m::Labels take_labels(ProtoMap& in) {
  m::Labels out;
  for (auto& [key, value] : in) out.emplace(key, std::move(value));
  return out;
}

// Open proto3 enums keep unknown numbers; the core's Status must not.
std::string take_status(int wire, m::Status& out) {
  if (wire < 0 || wire >= m::kStatusCount) {
    return "status: unknown value " + std::to_string(wire);
  }
  out = static_cast<m::Status>(wire);
  return {};
}

// "<field>: <problem> '<text>'" if `value` is not a member name
// (membership/member_address.h: a canonical address, or letters, digits, '.',
// '_', '-').
std::string check_name(const std::string& value, std::string_view field) {
  if (value.empty()) return std::string(field) + ": empty";
  std::string problem = m::check_member_name(value);
  if (problem.empty()) return {};
  return std::string(field) + ": " + problem + " " + quoted(value);
}

// An address field beside a name: absent only when the name is itself an
// address (a default name), else a canonical member address (IP literal
// and port: never a DNS name the receiver would resolve). Moves it to
// `out` unless it repeats the name (the encoder omits it then).
std::string take_address(std::string& value, const std::string& name, std::string_view field,
                         std::string& out) {
  const bool name_is_address = m::check_member_address(name).empty();
  if (value.empty() || value == name) {
    if (name_is_address) return {};
    return std::string(field) + ": missing for a name that is not an address";
  }
  // A name that is an address is the member's address: such a member that
  // restarts elsewhere has a new name, so no claim may move it (and nodes
  // before minor 2, which ignore this field, would send to the name).
  if (name_is_address) {
    return std::string(field) + ": differs from a name that is an address " + quoted(value);
  }
  if (std::string problem = m::check_member_address(value); !problem.empty()) {
    return std::string(field) + ": " + problem + " " + quoted(value);
  }
  out = std::move(value);
  return {};
}

std::string take(v1::Change& in, m::Change& out) {
  if (std::string p = check_name(in.name(), "name"); !p.empty()) return p;
  if (std::string problem = take_status(in.status(), out.status); !problem.empty()) return problem;
  if (std::string p = check_name(in.source(), "source"); !p.empty()) return p;
  if (std::string p = take_address(*in.mutable_address(), in.name(), "address", out.address);
      !p.empty()) {
    return p;
  }
  out.name = std::move(*in.mutable_name());
  out.incarnation = in.incarnation();
  out.labels = take_labels(*in.mutable_labels());
  if (std::string p = m::check_labels(out.labels); !p.empty()) return p;
  out.source = std::move(*in.mutable_source());
  out.source_incarnation = in.source_incarnation();
  return {};
}

std::string take(v1::Member& in, m::MemberState& out) {
  if (std::string p = check_name(in.name(), "name"); !p.empty()) return p;
  if (std::string problem = take_status(in.status(), out.status); !problem.empty()) return problem;
  if (std::string p = take_address(*in.mutable_address(), in.name(), "address", out.address);
      !p.empty()) {
    return p;
  }
  out.name = std::move(*in.mutable_name());
  out.incarnation = in.incarnation();
  out.labels = take_labels(*in.mutable_labels());
  return m::check_labels(out.labels);
}

// Takes every element of a repeated field; the problem names the element:
// "<body>.<list>[i].<field>: what".
template <class ProtoList, class Value>
std::string take_list(ProtoList& in, std::vector<Value>& out, std::string_view body,
                      std::string_view list) {
  out.reserve(static_cast<size_t>(in.size()));
  for (int i = 0; i < in.size(); ++i) {
    if (std::string problem = take(*in.Mutable(i), out.emplace_back()); !problem.empty()) {
      return std::string(body) + "." + std::string(list) + "[" + std::to_string(i) + "]." + problem;
    }
  }
  return {};
}

// "<body>.<field>: what" if `value` is not a member name.
std::string require(const std::string& value, std::string_view body, std::string_view field) {
  return check_name(value, std::string(body) + "." + std::string(field));
}

std::string take(v1::Ping& in, m::Ping& out) {
  if (std::string p = require(in.source(), "ping", "source"); !p.empty()) return p;
  if (std::string p = require(in.target(), "ping", "target"); !p.empty()) return p;
  out.seq = in.seq();
  out.source = std::move(*in.mutable_source());
  out.target = std::move(*in.mutable_target());
  out.checksum = in.checksum();
  return take_list(*in.mutable_changes(), out.changes, "ping", "changes");
}

std::string take(v1::PingReq& in, m::PingReq& out) {
  if (std::string p = require(in.source(), "ping_req", "source"); !p.empty()) return p;
  if (std::string p = require(in.target(), "ping_req", "target"); !p.empty()) return p;
  out.seq = in.seq();
  out.source = std::move(*in.mutable_source());
  out.target = std::move(*in.mutable_target());
  out.checksum = in.checksum();
  out.want_nack = in.want_nack();
  return take_list(*in.mutable_changes(), out.changes, "ping_req", "changes");
}

std::string take(v1::Ack& in, m::Ack& out) {
  if (std::string p = require(in.source(), "ack", "source"); !p.empty()) return p;
  out.seq = in.seq();
  out.source = std::move(*in.mutable_source());
  out.checksum = in.checksum();
  return take_list(*in.mutable_changes(), out.changes, "ack", "changes");
}

std::string take(v1::Nack& in, m::Nack& out) {
  if (std::string p = require(in.source(), "nack", "source"); !p.empty()) return p;
  out.seq = in.seq();
  out.source = std::move(*in.mutable_source());
  return take_list(*in.mutable_changes(), out.changes, "nack", "changes");
}

std::string take(v1::Gossip& in, m::Gossip& out) {
  if (std::string p = require(in.source(), "gossip", "source"); !p.empty()) return p;
  out.source = std::move(*in.mutable_source());
  out.checksum = in.checksum();
  return take_list(*in.mutable_changes(), out.changes, "gossip", "changes");
}

std::string take(v1::JoinRequest& in, m::JoinRequest& out) {
  if (std::string p = require(in.source(), "join_request", "source"); !p.empty()) return p;
  if (std::string p =
          take_address(*in.mutable_address(), in.source(), "join_request.address", out.address);
      !p.empty()) {
    return p;
  }
  out.source = std::move(*in.mutable_source());
  out.incarnation = in.incarnation();
  out.labels = take_labels(*in.mutable_labels());
  if (std::string p = m::check_labels(out.labels); !p.empty()) return "join_request." + p;
  return {};
}

std::string take(v1::JoinResponse& in, m::JoinResponse& out) {
  if (std::string p = require(in.responder(), "join_response", "responder"); !p.empty()) return p;
  out.responder = std::move(*in.mutable_responder());
  out.checksum = in.checksum();
  return take_list(*in.mutable_members(), out.members, "join_response", "members");
}

std::string take(v1::SyncRequest& in, m::SyncRequest& out) {
  if (std::string p = require(in.source(), "sync_request", "source"); !p.empty()) return p;
  out.source = std::move(*in.mutable_source());
  out.checksum = in.checksum();
  return take_list(*in.mutable_members(), out.members, "sync_request", "members");
}

std::string take(v1::SyncResponse& in, m::SyncResponse& out) {
  if (std::string p = require(in.responder(), "sync_response", "responder"); !p.empty()) return p;
  out.responder = std::move(*in.mutable_responder());
  out.checksum = in.checksum();
  return take_list(*in.mutable_members(), out.members, "sync_response", "members");
}

// Version and cluster, shared by Envelope and Frame ("envelope"/"frame").
template <class T, class Proto>
std::optional<Decoded<T>> check_header(const Proto& msg, std::string_view cluster,
                                       std::string_view what) {
  if (msg.version() != m::kProtocolVersion) {
    return fail<T>(DecodeError::kBadVersion, std::string(what) +
                                                 ".version: " + std::to_string(msg.version()) +
                                                 " is not " + std::to_string(m::kProtocolVersion));
  }
  if (msg.cluster() != cluster) {
    return fail<T>(
        DecodeError::kWrongCluster,
        std::string(what) + ".cluster: " + quoted(msg.cluster()) + " is not " + quoted(cluster));
  }
  return std::nullopt;
}

template <class T>
Decoded<T> parse_failure(DecodeError error, std::string_view bytes, size_t max_bytes,
                         std::string_view what, std::string_view type) {
  if (error == DecodeError::kTooLarge) {
    return fail<T>(error, std::string(what) + ": " + std::to_string(bytes.size()) +
                              " bytes, over the limit of " + std::to_string(max_bytes));
  }
  return fail<T>(error, std::string(what) + ": " + std::to_string(bytes.size()) +
                            " bytes are not a valid " + std::string(type) +
                            " (truncated, corrupt or not UTF-8)");
}

}  // namespace

std::string_view to_string(DecodeError e) {
  switch (e) {
    case DecodeError::kOk:
      return "ok";
    case DecodeError::kMalformed:
      return "malformed";
    case DecodeError::kTooLarge:
      return "too_large";
    case DecodeError::kBadVersion:
      return "bad_version";
    case DecodeError::kWrongCluster:
      return "wrong_cluster";
    case DecodeError::kNoBody:
      return "no_body";
    case DecodeError::kBadField:
      return "bad_field";
    case DecodeError::kDecryptFailed:
      return "decrypt_failed";
    case DecodeError::kPlaintextRefused:
      return "plaintext_refused";
  }
  return "unknown";
}

void append_frame_header(std::string& out, uint32_t length) {
  const char bytes[kFrameHeaderBytes] = {static_cast<char>(length >> 24),
                                         static_cast<char>(length >> 16),
                                         static_cast<char>(length >> 8), static_cast<char>(length)};
  out.append(bytes, kFrameHeaderBytes);
}

std::optional<uint32_t> parse_frame_header(std::string_view bytes) {
  if (bytes.size() < kFrameHeaderBytes) return std::nullopt;
  uint32_t length = 0;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    length = length << 8 | static_cast<unsigned char>(bytes[i]);
  }
  return length;
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

Decoded<m::Message> decode_datagram(std::string_view bytes, std::string_view cluster,
                                    size_t max_bytes) {
  v1::Envelope env;
  if (DecodeError e = parse(bytes, max_bytes, env); e != DecodeError::kOk) {
    return parse_failure<m::Message>(e, bytes, max_bytes, "envelope", "shoal.v1.Envelope");
  }
  if (auto bad = check_header<m::Message>(env, cluster, "envelope")) return std::move(*bad);

  m::Message message;
  std::string problem;
  switch (env.body_case()) {
    case v1::Envelope::kPing:
      problem = take(*env.mutable_ping(), message.emplace<m::Ping>());
      break;
    case v1::Envelope::kPingReq:
      problem = take(*env.mutable_ping_req(), message.emplace<m::PingReq>());
      break;
    case v1::Envelope::kAck:
      problem = take(*env.mutable_ack(), message.emplace<m::Ack>());
      break;
    case v1::Envelope::kNack:
      problem = take(*env.mutable_nack(), message.emplace<m::Nack>());
      break;
    case v1::Envelope::kGossip:
      problem = take(*env.mutable_gossip(), message.emplace<m::Gossip>());
      break;
    case v1::Envelope::BODY_NOT_SET:
      // Also what a body added by a newer version looks like: protobuf keeps
      // an unknown oneof member as an unknown field.
      return fail<m::Message>(DecodeError::kNoBody, "envelope.body: missing or unknown");
  }
  if (!problem.empty()) return fail<m::Message>(DecodeError::kBadField, std::move(problem));
  Decoded<m::Message> out{std::move(message), DecodeError::kOk, {}, env.opens_sealed()};
  out.minor = env.minor_version();
  return out;
}

namespace {
// Moves alternative A or B out of `body` into a variant of the two.
template <class Out, class A, class B>
std::optional<Out> take_either(FrameBody& body) {
  if (auto* a = std::get_if<A>(&body)) return Out(std::move(*a));
  if (auto* b = std::get_if<B>(&body)) return Out(std::move(*b));
  return std::nullopt;
}
}  // namespace

std::optional<m::TcpRequest> take_tcp_request(FrameBody& body) {
  // Emplaced in place: building a temporary TcpRequest and moving it out
  // trips GCC 12's -Wmaybe-uninitialized at -O3 (a false positive in
  // std::variant's destructor).
  std::optional<m::TcpRequest> out;
  if (auto* p = std::get_if<m::Ping>(&body)) {
    out.emplace(std::in_place_type<m::Ping>, std::move(*p));
  } else if (auto* j = std::get_if<m::JoinRequest>(&body)) {
    out.emplace(std::in_place_type<m::JoinRequest>, std::move(*j));
  } else if (auto* s = std::get_if<m::SyncRequest>(&body)) {
    out.emplace(std::in_place_type<m::SyncRequest>, std::move(*s));
  }
  return out;
}

std::optional<m::TcpResponse> take_tcp_response(FrameBody& body) {
  if (auto* a = std::get_if<m::Ack>(&body)) return m::TcpResponse(std::move(*a));
  return take_either<m::TcpResponse, m::JoinResponse, m::SyncResponse>(body);
}

FrameBody to_frame_body(m::TcpRequest request) {
  return std::visit([](auto& r) -> FrameBody { return std::move(r); }, request);
}

FrameBody to_frame_body(m::TcpResponse response) {
  return std::visit([](auto& r) -> FrameBody { return std::move(r); }, response);
}

namespace {
v1::Frame to_proto(std::string_view cluster, uint64_t id, const FrameBody& body) {
  v1::Frame frame;
  frame.set_version(m::kProtocolVersion);
  frame.set_cluster(cluster.data(), cluster.size());
  frame.set_id(id);
  set_minor(frame);
  std::visit([&frame](const auto& b) { put(b, frame); }, body);
  return frame;
}
}  // namespace

std::string encode_frame(std::string_view cluster, uint64_t id, const FrameBody& body) {
  return with_next_minor(serialize(to_proto(cluster, id, body)));
}

void append_frame(std::string& out, std::string_view cluster, uint64_t id, const FrameBody& body) {
  if (next_minor) {
    const std::string bytes = encode_frame(cluster, id, body);
    append_frame_header(out, static_cast<uint32_t>(bytes.size()));
    out += bytes;
    return;
  }
  serialize_into(to_proto(cluster, id, body), out, /*header=*/true);
}

Decoded<Frame> decode_frame(std::string_view bytes, std::string_view cluster, size_t max_bytes) {
  v1::Frame frame;
  if (DecodeError e = parse(bytes, max_bytes, frame); e != DecodeError::kOk) {
    return parse_failure<Frame>(e, bytes, max_bytes, "frame", "shoal.v1.Frame");
  }
  if (auto bad = check_header<Frame>(frame, cluster, "frame")) return std::move(*bad);

  Frame out;
  out.id = frame.id();
  std::string problem;
  switch (frame.body_case()) {
    case v1::Frame::kJoinRequest:
      problem = take(*frame.mutable_join_request(), out.body.emplace<m::JoinRequest>());
      break;
    case v1::Frame::kJoinResponse:
      problem = take(*frame.mutable_join_response(), out.body.emplace<m::JoinResponse>());
      break;
    case v1::Frame::kSyncRequest:
      problem = take(*frame.mutable_sync_request(), out.body.emplace<m::SyncRequest>());
      break;
    case v1::Frame::kSyncResponse:
      problem = take(*frame.mutable_sync_response(), out.body.emplace<m::SyncResponse>());
      break;
    case v1::Frame::kPing:
      problem = take(*frame.mutable_ping(), out.body.emplace<m::Ping>());
      break;
    case v1::Frame::kAck:
      problem = take(*frame.mutable_ack(), out.body.emplace<m::Ack>());
      break;
    case v1::Frame::kAdminRequest: {
      auto& in = *frame.mutable_admin_request();
      if (in.command().empty()) {
        problem = "admin_request.command: must not be empty";
        break;
      }
      out.body = AdminRequest{std::move(*in.mutable_command()), std::move(*in.mutable_args_json())};
      break;
    }
    case v1::Frame::kAdminResponse: {
      auto& in = *frame.mutable_admin_response();
      out.body = AdminResponse{std::move(*in.mutable_json()), std::move(*in.mutable_error())};
      break;
    }
    case v1::Frame::kForwardRequest: {
      auto& in = *frame.mutable_forward_request();
      if (problem = require(in.source(), "forward_request", "source"); !problem.empty()) break;
      ForwardRequest r{std::move(*in.mutable_key()),
                       std::move(*in.mutable_payload()),
                       in.ring_checksum(),
                       std::move(*in.mutable_source()),
                       in.timeout_ms(),
                       in.request_id(),
                       in.acked_below()};
      for (auto& [name, value] : *in.mutable_headers()) r.headers.emplace(name, std::move(value));
      r.more_keys.reserve(static_cast<size_t>(in.more_keys_size()));
      for (auto& k : *in.mutable_more_keys()) r.more_keys.push_back(std::move(k));
      r.attempt = in.attempt();
      out.body = std::move(r);
      break;
    }
    case v1::Frame::kForwardResponse: {
      auto& in = *frame.mutable_forward_response();
      const auto error = static_cast<uint32_t>(in.error());
      if (error > kForwardErrorMax || error == kForwardErrorRemoved) {
        problem = "forward_response.error: unknown value " + std::to_string(error);
        break;
      }
      out.body =
          ForwardResponse{error, std::move(*in.mutable_error_message()),
                          std::move(*in.mutable_payload()), std::move(*in.mutable_handled_by())};
      break;
    }
    case v1::Frame::BODY_NOT_SET:
      return fail<Frame>(DecodeError::kNoBody, "frame.body: missing or unknown");
  }
  if (!problem.empty()) return fail<Frame>(DecodeError::kBadField, std::move(problem));
  Decoded<Frame> decoded{std::move(out), DecodeError::kOk, {}};
  decoded.minor = frame.minor_version();
  return decoded;
}

}  // namespace shoal::proto
