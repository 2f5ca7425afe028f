// Copyright shoal authors. The codec's decoding half (contract and wire
// layout in codec.h; encode.cc is the other half, and the two share no
// code): checked parsing of datagrams, frames and frame headers.
//
// Decoding parses into the generated types, then checks each field and
// moves it into the membership:: value, so the parser's strings are moved,
// not copied (label keys excepted: protobuf map keys are const). Checks
// report the first failure only: the node counts drops, it does not
// diagnose peers.

#include <google/protobuf/stubs/logging.h>

#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "shoal.pb.h"
#include "shoal/membership/app_gossip.h"
#include "shoal/membership/member_address.h"
#include "shoal/membership/types.h"
#include "shoal/proto/codec.h"

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

std::string take(v1::AppMessage& in, m::AppMessage& out) {
  if (in.kind() < 0 || in.kind() >= m::kAppKindCount) {
    return "kind: unknown value " + std::to_string(in.kind());
  }
  out.kind = static_cast<m::AppKind>(in.kind());
  out.origin = std::move(*in.mutable_origin());
  out.epoch = in.epoch();
  out.seq = in.seq();
  out.name = std::move(*in.mutable_name());
  out.payload = std::move(*in.mutable_payload());
  out.coalesce = in.coalesce();
  out.reply_to = std::move(*in.mutable_reply_to());
  out.timeout_ms = in.timeout_ms();
  out.want_ack = in.want_ack();
  for (std::string& n : *in.mutable_filter_names()) out.filter_names.push_back(std::move(n));
  out.filter_labels = take_labels(*in.mutable_filter_labels());
  out.id = in.query_id();
  return m::check_app_message(out);
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
  if (std::string p = take_list(*in.mutable_changes(), out.changes, "ping", "changes");
      !p.empty()) {
    return p;
  }
  return take_list(*in.mutable_app(), out.app, "ping", "app");
}

std::string take(v1::PingReq& in, m::PingReq& out) {
  if (std::string p = require(in.source(), "ping_req", "source"); !p.empty()) return p;
  if (std::string p = require(in.target(), "ping_req", "target"); !p.empty()) return p;
  out.seq = in.seq();
  out.source = std::move(*in.mutable_source());
  out.target = std::move(*in.mutable_target());
  out.checksum = in.checksum();
  out.want_nack = in.want_nack();
  if (std::string p = take_list(*in.mutable_changes(), out.changes, "ping_req", "changes");
      !p.empty()) {
    return p;
  }
  return take_list(*in.mutable_app(), out.app, "ping_req", "app");
}

std::string take(v1::Ack& in, m::Ack& out) {
  if (std::string p = require(in.source(), "ack", "source"); !p.empty()) return p;
  out.seq = in.seq();
  out.source = std::move(*in.mutable_source());
  out.checksum = in.checksum();
  if (std::string p = take_list(*in.mutable_changes(), out.changes, "ack", "changes"); !p.empty()) {
    return p;
  }
  return take_list(*in.mutable_app(), out.app, "ack", "app");
}

std::string take(v1::Nack& in, m::Nack& out) {
  if (std::string p = require(in.source(), "nack", "source"); !p.empty()) return p;
  out.seq = in.seq();
  out.source = std::move(*in.mutable_source());
  if (std::string p = take_list(*in.mutable_changes(), out.changes, "nack", "changes");
      !p.empty()) {
    return p;
  }
  return take_list(*in.mutable_app(), out.app, "nack", "app");
}

std::string take(v1::Gossip& in, m::Gossip& out) {
  if (std::string p = require(in.source(), "gossip", "source"); !p.empty()) return p;
  out.source = std::move(*in.mutable_source());
  out.checksum = in.checksum();
  if (std::string p = take_list(*in.mutable_changes(), out.changes, "gossip", "changes");
      !p.empty()) {
    return p;
  }
  return take_list(*in.mutable_app(), out.app, "gossip", "app");
}

std::string take(v1::QueryAnswer& in, m::QueryAnswer& out) {
  if (std::string p = require(in.source(), "query_answer", "source"); !p.empty()) return p;
  out.id = in.id();
  out.source = std::move(*in.mutable_source());
  out.ack = in.ack();
  out.payload = std::move(*in.mutable_payload());
  return {};
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
  out.app_state = std::move(*in.mutable_app_state());
  return {};
}

std::string take(v1::JoinResponse& in, m::JoinResponse& out) {
  if (std::string p = require(in.responder(), "join_response", "responder"); !p.empty()) return p;
  out.responder = std::move(*in.mutable_responder());
  out.checksum = in.checksum();
  out.app_state = std::move(*in.mutable_app_state());
  return take_list(*in.mutable_members(), out.members, "join_response", "members");
}

std::string take(v1::SyncRequest& in, m::SyncRequest& out) {
  if (std::string p = require(in.source(), "sync_request", "source"); !p.empty()) return p;
  out.source = std::move(*in.mutable_source());
  out.checksum = in.checksum();
  out.app_state = std::move(*in.mutable_app_state());
  return take_list(*in.mutable_members(), out.members, "sync_request", "members");
}

std::string take(v1::SyncResponse& in, m::SyncResponse& out) {
  if (std::string p = require(in.responder(), "sync_response", "responder"); !p.empty()) return p;
  out.responder = std::move(*in.mutable_responder());
  out.checksum = in.checksum();
  out.app_state = std::move(*in.mutable_app_state());
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

std::optional<uint32_t> parse_frame_header(std::string_view bytes) {
  if (bytes.size() < kFrameHeaderBytes) return std::nullopt;
  uint32_t length = 0;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    length = length << 8 | static_cast<unsigned char>(bytes[i]);
  }
  return length;
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
    case v1::Envelope::kQueryAnswer:
      problem = take(*env.mutable_query_answer(), message.emplace<m::QueryAnswer>());
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

namespace {

// A forwarded request: every field moved out of `in`; its bounds are the
// forwarder's to check (node/handler.h), the source is required here.
std::string take(v1::ForwardRequest& in, ForwardRequest& r) {
  if (std::string problem = require(in.source(), "forward_request", "source"); !problem.empty()) {
    return problem;
  }
  r.key = std::move(*in.mutable_key());
  r.payload = std::move(*in.mutable_payload());
  r.ring_checksum = in.ring_checksum();
  r.source = std::move(*in.mutable_source());
  r.timeout_ms = in.timeout_ms();
  r.request_id = in.request_id();
  r.acked_below = in.acked_below();
  for (auto& [name, value] : *in.mutable_headers()) r.headers.emplace(name, std::move(value));
  r.more_keys.reserve(static_cast<size_t>(in.more_keys_size()));
  for (auto& k : *in.mutable_more_keys()) r.more_keys.push_back(std::move(k));
  r.attempt = in.attempt();
  r.endpoint = std::move(*in.mutable_endpoint());
  r.to_member = std::move(*in.mutable_to_member());
  r.replica = in.replica();
  return "";
}

// A compressed body (Frame.zstd_body, minor 7): expanded within
// `max_bytes` and parsed, it takes the compressed body's place in `frame`.
// It must be a membership table, not compressed again.
std::optional<Decoded<Frame>> expand(v1::Frame& frame, size_t max_bytes) {
  std::string why;
  bool too_large = false;
  auto plain = zstd_decompress(frame.zstd_body(), max_bytes, why, too_large);
  if (!plain) {
    return fail<Frame>(too_large ? DecodeError::kTooLarge : DecodeError::kMalformed,
                       "frame.zstd_body: " + why);
  }
  v1::Frame inner;
  if (parse(*plain, max_bytes, inner) != DecodeError::kOk) {
    return fail<Frame>(DecodeError::kMalformed,
                       "frame.zstd_body: " + std::to_string(plain->size()) +
                           " bytes expanded are not a valid shoal.v1.Frame");
  }
  switch (inner.body_case()) {
    case v1::Frame::kJoinResponse:
      frame.set_allocated_join_response(inner.release_join_response());
      return std::nullopt;
    case v1::Frame::kSyncRequest:
      frame.set_allocated_sync_request(inner.release_sync_request());
      return std::nullopt;
    case v1::Frame::kSyncResponse:
      frame.set_allocated_sync_response(inner.release_sync_response());
      return std::nullopt;
    default:
      return fail<Frame>(DecodeError::kBadField,
                         "frame.zstd_body: holds body " + std::to_string(inner.body_case()) +
                             "; only join answers and sync requests and answers are compressed");
  }
}

}  // namespace

Decoded<Frame> decode_frame(std::string_view bytes, std::string_view cluster, size_t max_bytes) {
  v1::Frame frame;
  if (DecodeError e = parse(bytes, max_bytes, frame); e != DecodeError::kOk) {
    return parse_failure<Frame>(e, bytes, max_bytes, "frame", "shoal.v1.Frame");
  }
  if (auto bad = check_header<Frame>(frame, cluster, "frame")) return std::move(*bad);
  const bool compressed = frame.body_case() == v1::Frame::kZstdBody;
  if (compressed) {
    if (auto bad = expand(frame, max_bytes)) return std::move(*bad);
  }

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
    case v1::Frame::kForwardRequest:
      problem = take(*frame.mutable_forward_request(), out.body.emplace<ForwardRequest>());
      break;
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
    case v1::Frame::kZstdBody:  // expand() leaves none
    case v1::Frame::BODY_NOT_SET:
      return fail<Frame>(DecodeError::kNoBody, "frame.body: missing or unknown");
  }
  if (!problem.empty()) return fail<Frame>(DecodeError::kBadField, std::move(problem));
  Decoded<Frame> decoded{std::move(out), DecodeError::kOk, {}};
  decoded.minor = frame.minor_version();
  decoded.compressed = compressed;
  return decoded;
}

}  // namespace shoal::proto
