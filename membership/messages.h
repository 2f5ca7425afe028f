// Copyright shoal authors. The messages of the membership protocol as plain
// C++ values. proto/codec.h is the only translation between these and the
// wire (proto/shoal.proto); the core never sees protobuf.
//
// UDP (one datagram each, at most Config::datagram_budget bytes encoded):
//
//   Ping     A -> B    seq, source A, target B, A's checksum, changes
//   Ack      B -> A    seq, source B, B's checksum, changes
//   PingReq  A -> H    seq, source A, target B, checksum, want_nack, changes
//                      H pings B with its own seq; on B's ack H sends
//                      Ack{seq of A's PingReq, source B} to A; if B is
//                      silent for 80% of H's ping timeout, Nack to A (so
//                      that it lands before A's probe period ends).
//   Nack     H -> A    seq, source H, changes
//   Gossip   A -> C    source A, checksum, changes (no answer)
//
// TCP (request/response exchanges the core starts with OutExchange and the
// driver carries, answering with on_tcp_response or on_tcp_failure):
//
//   JoinRequest  -> JoinResponse    full membership to a joining node
//   SyncRequest  -> SyncResponse    push-pull: both sides' full tables
//
// Every message carries changes ("piggyback"): claims about members,
// merged by the precedence rules of types.h.

#ifndef SHOAL_MEMBERSHIP_MESSAGES_H_
#define SHOAL_MEMBERSHIP_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "shoal/membership/types.h"

namespace shoal::membership {

// The wire protocol version this code speaks: Envelope.version and
// Frame.version in proto/shoal.proto. Receivers drop any other version, so
// bump it only for a change that old nodes would misinterpret (shoal.proto's
// compatibility rules). Here rather than in proto/ so that the core's size
// arithmetic (encoded_envelope_size) and the codec share one definition.
inline constexpr uint32_t kProtocolVersion = 1;
// Minor versions of kProtocolVersion, each a superset of the one before,
// advertised in every message (Envelope/Frame minor_version):
//   0  before minor versions
//   1  Ping/Ack frames: the TCP fallback probe
//   2  member names: the address beside a name (Change.address,
//      Member.address, JoinRequest.address). Nodes before it read a name
//      that is not an address as a bad field: name members only once
//      every node speaks minor 2 (default names need nothing).
//   3  endpoints: ForwardRequest.endpoint. Nodes before it see every
//      request as one for the default endpoint: use named endpoints once
//      every node speaks minor 3.
//   4  directed requests: ForwardRequest.to_member and .replica, the
//      error UNKNOWN_MEMBER. A node does not send a directed request to a
//      member that said it speaks an older minor (unknown_member, naming
//      the minor): it would take it for a keyed request.
//   5  app gossip: `app` in every datagram (user broadcasts, user events,
//      queries), the QueryAnswer datagram. Nodes before it ignore `app`
//      (an unknown field): they neither deliver nor pass it on.
//   6  app state: `app_state` in join and sync requests and responses
//      (memberlist's push-pull LocalState). Nodes before it ignore it.
//   7  compressed tables: Frame.zstd_body, a join answer or sync request
//      or answer compressed with zstd. Sent only to a peer that said it
//      speaks minor 7 (in a datagram, a join or a sync): nodes before it
//      would find no body they know and drop the frame.
inline constexpr uint32_t kProtocolMinor = 7;
inline constexpr uint32_t kMinorTcpPing = 1;
inline constexpr uint32_t kMinorNames = 2;
inline constexpr uint32_t kMinorEndpoints = 3;
inline constexpr uint32_t kMinorDirected = 4;
inline constexpr uint32_t kMinorAppGossip = 5;
inline constexpr uint32_t kMinorAppState = 6;
inline constexpr uint32_t kMinorCompression = 7;

// Members are identified by name (Config::name: the member's address
// unless the operator names it; member_address.h check_member_name). Every
// `source`, `target` and `responder` below is a name. Where a message also
// says where a member is reached, `address` holds that address; empty
// means the name is the address (a default name: the wire then carries
// nothing extra, so clusters without names encode exactly as before).

// A claim about a member, made first by `source`.
struct Change {
  std::string name;
  Status status = Status::kAlive;
  Incarnation incarnation = 0;
  Labels labels;
  std::string source;
  Incarnation source_incarnation = 0;
  std::string address{};  // where the member is reached; "" = name
  bool operator==(const Change&) const = default;
};

// Where a member is reached (as address_of(MemberState), types.h).
inline const std::string& address_of(const Change& c) {
  return c.address.empty() ? c.name : c.address;
}

// App gossip (app_gossip.h): a message of the app's, spread on the gossip
// path after the membership changes, to every member.
enum class AppKind : uint8_t {
  kBroadcast = 0,  // Node::broadcast: the newest per (origin, name) wins
  kEvent = 1,      // Node::event: serf's user event, Lamport-timed
  kQuery = 2,      // Node::query: a question; answers go to reply_to
};
inline constexpr int kAppKindCount = 3;

struct AppMessage {
  AppKind kind = AppKind::kBroadcast;
  std::string origin{};  // the member that sent it (a name)
  // Broadcast: the origin's epoch (its incarnation when it started) and a
  // counter: (epoch, seq) orders an origin's broadcasts across restarts.
  // Event and query: `seq` is the Lamport time (`epoch` unused).
  uint64_t epoch = 0;
  uint64_t seq = 0;
  uint64_t id = 0;  // query: its id (random, unique per asker)
  std::string name{};
  std::string payload{};
  bool coalesce = false;  // event: deliver only the newest of a burst
  // Query only: where answers go (the asker's address), the asker's
  // timeout, whether to ack on receipt, and the filter: only members
  // whose name is in `filter_names` (if any) and whose labels include
  // every `filter_labels` pair answer.
  std::string reply_to{};
  uint32_t timeout_ms = 0;
  bool want_ack = false;
  std::vector<std::string> filter_names{};
  Labels filter_labels{};
  bool operator==(const AppMessage&) const = default;
};

struct Ping {
  uint64_t seq = 0;
  std::string source;
  std::string target;
  uint64_t checksum = 0;
  std::vector<Change> changes;
  std::vector<AppMessage> app{};
  bool operator==(const Ping&) const = default;
};

struct PingReq {
  uint64_t seq = 0;
  std::string source;
  std::string target;
  uint64_t checksum = 0;
  bool want_nack = false;
  std::vector<Change> changes;
  std::vector<AppMessage> app{};
  bool operator==(const PingReq&) const = default;
};

struct Ack {
  uint64_t seq = 0;
  std::string source;
  uint64_t checksum = 0;
  std::vector<Change> changes;
  std::vector<AppMessage> app{};
  bool operator==(const Ack&) const = default;
};

struct Nack {
  uint64_t seq = 0;
  std::string source;
  std::vector<Change> changes;
  std::vector<AppMessage> app{};
  bool operator==(const Nack&) const = default;
};

struct Gossip {
  std::string source;
  uint64_t checksum = 0;
  std::vector<Change> changes;
  std::vector<AppMessage> app{};
  bool operator==(const Gossip&) const = default;
};

// A query's ack or response, straight to the asker (reply_to), from the
// member `source` that answers query `id`.
struct QueryAnswer {
  uint64_t id = 0;
  std::string source;
  bool ack = false;  // an ack (on receipt) rather than a response
  std::string payload;
  bool operator==(const QueryAnswer&) const = default;
};

using Message = std::variant<Ping, PingReq, Ack, Nack, Gossip, QueryAnswer>;

// The changes and app messages a datagram carries (none for a
// QueryAnswer).
inline const std::vector<Change>& changes_of(const Message& m) {
  static const std::vector<Change> kNone;
  return std::visit(
      [](const auto& b) -> const std::vector<Change>& {
        if constexpr (std::is_same_v<std::decay_t<decltype(b)>, QueryAnswer>) {
          return kNone;
        } else {
          return b.changes;
        }
      },
      m);
}
inline const std::vector<AppMessage>& app_of(const Message& m) {
  static const std::vector<AppMessage> kNone;
  return std::visit(
      [](const auto& b) -> const std::vector<AppMessage>& {
        if constexpr (std::is_same_v<std::decay_t<decltype(b)>, QueryAnswer>) {
          return kNone;
        } else {
          return b.app;
        }
      },
      m);
}

struct JoinRequest {
  std::string source;
  Incarnation incarnation = 0;
  Labels labels;
  std::string address{};    // where the joiner is reached; "" = source
  std::string app_state{};  // the app's state (minor 6)
  bool operator==(const JoinRequest&) const = default;
};

struct JoinResponse {
  std::string responder;
  uint64_t checksum = 0;
  std::vector<MemberState> members;
  std::string app_state{};
  bool operator==(const JoinResponse&) const = default;
};

struct SyncRequest {
  std::string source;
  uint64_t checksum = 0;
  std::vector<MemberState> members;
  std::string app_state{};
  bool operator==(const SyncRequest&) const = default;
};

struct SyncResponse {
  std::string responder;
  uint64_t checksum = 0;
  std::vector<MemberState> members;
  std::string app_state{};
  bool operator==(const SyncResponse&) const = default;
};

// Over TCP: join, full sync, and the fallback probe (a Ping answered Ack).
using TcpRequest = std::variant<JoinRequest, SyncRequest, Ping>;
using TcpResponse = std::variant<JoinResponse, SyncResponse, Ack>;

// ---- encoded sizes --------------------------------------------------------
// Exact protobuf (proto3) encoded sizes, computed without protobuf, so the
// core can pack changes into the datagram budget. tests/proto checks them
// against the generated code's ByteSizeLong().

// Size of one Change as an element of a `repeated Change changes` field,
// tag and length prefix included.
size_t encoded_change_size(const Change& c);
// The same for one AppMessage in a `repeated AppMessage app` field.
size_t encoded_app_size(const AppMessage& a);
// Size of the whole Envelope for `m` (version kProtocolVersion, `cluster`,
// minor kProtocolMinor), changes included.
size_t encoded_envelope_size(const Message& m, size_t cluster_size);

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_MESSAGES_H_
