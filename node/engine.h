// Copyright shoal authors. The engine: everything a node does except I/O,
// and the one contract its two drivers share.
//
// An Engine holds the membership core, the ring feed and the forwarder, and
// wires them: membership events go to the ring feed (and out, for logs and
// callbacks), the ring feed publishes the snapshots the forwarder looks
// keys up in. It decodes and encodes through proto/codec.h and counts what
// it drops. It reads no clock, opens no socket and starts no thread.
//
// Two drivers run it: node/ (Asio, real time) and tests/sim (virtual time,
// a simulated network, thousands of engines in one thread). Both follow
// the driver contract:
//
//   1. Deliver inputs with the on_* methods as they arrive, each with the
//      time `now`.
//   2. Before tick(now), deliver every input that has arrived by `now`: a
//      process that was not scheduled for a while (a thousand nodes on two
//      cores, a paused VM) finds the acks it waited for queued in its
//      socket, and judging probes before reading them suspects healthy
//      peers.
//   3. Call tick(now) once now >= next_deadline(); calling it early is
//      harmless (nothing is due, nothing runs).
//   4. After every call, drain the outputs (take_*): datagrams to send,
//      exchanges (join, sync) and forwards to start on TCP, member events
//      and ring changes to report. Then re-arm the timer for
//      next_deadline().
//
//   inputs                     Engine                          outputs
//   datagram ----decode---> membership core ---datagrams----> UDP
//   frame -------decode---> core | forwarder ---exchanges---> TCP (join, sync)
//   tick(now) -------------> core, ring feed, ---forwards----> TCP (forwarding)
//                            forwarder          ---events, ring changes--> logs,
//                            core events --> ring feed          callbacks
//
// Thread safety: none; the driver's one thread owns it. The ring feed's
// publisher may be read from any thread.

#ifndef SHOAL_NODE_ENGINE_H_
#define SHOAL_NODE_ENGINE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shoal/membership/membership.h"
#include "shoal/node/app_router.h"
#include "shoal/node/counters.h"
#include "shoal/node/forwarder.h"
#include "shoal/node/ring_feed.h"
#include "shoal/node/seal.h"
#include "shoal/node/string_hash.h"
#include "shoal/proto/codec.h"

namespace shoal::node {

struct EngineOptions {
  // Protocol parameters with this node's address, cluster, labels and
  // incarnation filled in.
  membership::Config protocol;
  uint32_t replica_points = ring::kDefaultReplicaPoints;
  // Frames above this are refused.
  uint32_t frame_bytes_max = proto::kDefaultMaxFrameBytes;
  ForwarderOptions forward;
  // Seals and opens every datagram and frame (seal.h); null: plaintext
  // (Encryption::kOff). The driver shares it with its TCP connections.
  std::shared_ptr<Seal> seal;
  // Where the ring snapshots are published; null: the engine's own. The
  // node passes one that exists before the engine (Node::ring_publisher()).
  ring::RingPublisher* ring_publisher = nullptr;
  // Ring snapshots shared by content with the other engines given it
  // (ring::RingCache; the simulator's), or null.
  ring::RingCache* ring_cache = nullptr;
  // The ring's checksum only, no ring (RingFeed::set_checksum_only): for
  // the simulator's protocol scenarios, where nothing looks a key up. The
  // forwarder then sees the ring of this node alone.
  bool ring_checksum_only = false;
  // Keep no event log (event_log() stays empty; the admin `events`
  // command reads it): the simulator's nodes, where 1024 logged events a
  // node were a quarter of a 1000-node run's memory.
  bool no_event_log = false;
  // Membership::set_admission, set_app_state.
  membership::Admission admit;
  membership::AppState app_state;
  membership::ConflictCallback on_name_conflict;
};

class Engine {
 public:
  // A datagram to send, encoded.
  struct Datagram {
    std::string to;
    std::string bytes;
  };
  // A TCP exchange to start: send `request` as frame `id`, pass the answer
  // to on_exchange_response(id) or report on_exchange_failed(id).
  struct Exchange {
    uint64_t id = 0;
    std::string to;
    proto::FrameBody request;
    bool compress = false;  // `to` said it speaks compressed tables (minor 7)
  };
  // Why an input was dropped (kOk: it was not); counted already.
  struct Drop {
    proto::DecodeError error = proto::DecodeError::kOk;
    std::string detail;
    bool dropped() const { return error != proto::DecodeError::kOk; }
  };

  // `options.protocol` must be valid; `seed` drives every random choice.
  Engine(EngineOptions options, uint64_t seed, membership::Instant now);

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---- inputs ----
  void join(const std::vector<std::string>& seeds, membership::Instant now);
  // The seeds' current addresses (Membership::set_seeds).
  void set_seeds(const std::vector<std::string>& seeds) { core_.set_seeds(seeds); }
  void leave(membership::Instant now);
  // Marks a suspect or faulty member left and gossips it
  // (Membership::force_leave); "" or why not.
  std::string force_leave(const std::string& name, membership::Instant now);
  // This node's labels as gossiped now.
  membership::Labels own_labels() const;
  // Replaces this node's labels and gossips them (Membership::set_labels);
  // "" or why not.
  std::string set_labels(membership::Labels labels, membership::Instant now);
  // Draining (a leave begins): labels this node draining=true, so every
  // ring drops it, and answers forwarded requests shutting_down (their
  // senders look again) while its handlers in flight finish.
  void drain(membership::Instant now);
  bool draining() const { return draining_; }
  Drop on_datagram(std::string_view from, std::string_view bytes, membership::Instant now);
  // A join or sync request from a peer and its answer; nullopt if `body`
  // is not such a request (a response sent as a request, a forwarded or an
  // admin request, which go elsewhere).
  std::optional<proto::FrameBody> on_request(std::string_view from, proto::FrameBody& body,
                                             membership::Instant now);
  // A forwarded request; `answer` gets its answer, at once or once the
  // handler has run (take_jobs). `received`: when its bytes arrived (its
  // budget counts from then).
  void on_forward_request(proto::ForwardRequest request, membership::Instant received,
                          membership::Instant now, Forwarder::Answer answer);
  // A handler run's outcome (HandlerJob::id).
  void on_job_done(uint64_t job, HandlerOutcome outcome, membership::Instant now);
  // The answer to exchange `id`; false (and the exchange failed) if `body`
  // is not a join or sync response.
  bool on_exchange_response(uint64_t id, proto::FrameBody& body, membership::Instant now);
  void on_exchange_failed(uint64_t id, membership::Instant now);
  void on_forward_response(std::string_view peer, uint64_t id, proto::ForwardResponse response,
                           membership::Instant now);
  void on_link_failed(std::string_view peer, const std::string& why, membership::Instant now);
  void forward(std::string key, std::string payload, ForwardOptions options, Forwarder::Done done,
               membership::Instant now);
  void forward_all(std::vector<std::string> keys, std::string payload, ForwardOptions options,
                   Forwarder::DoneAll done, membership::Instant now);
  // Node::request: a directed request to `member` (Forwarder::request).
  void request(std::string member, std::string payload, ForwardOptions options,
               Forwarder::Done done, membership::Instant now);
  // Node::replicate: `key` at its first options.n owners (replication.h).
  void replicate(std::string key, std::string payload, ReplicaOptions options,
                 Forwarder::DoneReplicas done, membership::Instant now);
  // ---- app gossip (membership/app_gossip.h, app_router.h) ----
  // Each "" or why not.
  std::string broadcast(std::string name, std::string payload, membership::Instant now);
  std::string event(std::string name, std::string payload, bool coalesce, membership::Instant now);
  // `callback` gets every ack and response, then the end; sets `id`.
  std::string query(QuerySpec spec, QueryCallback callback, membership::Instant now, uint64_t& id);
  std::string set_query_handler(const std::string& name, QueryHandler handler) {
    return app_.set_query_handler(name, std::move(handler));
  }
  // The answer of a query handler that ran elsewhere (an executor).
  std::string answer_query(uint64_t id, std::string payload, membership::Instant now);
  // Delivered broadcasts, events and queries, for the app's listeners.
  std::vector<AppMessage> take_app_deliveries() { return app_.take_deliveries(); }
  const AppRouter& app() const { return app_; }

  void tick(membership::Instant now);
  membership::Instant next_deadline() const;
  // The same split in two, for a driver with two timers: the protocol's
  // (membership core and ring feed: few deadlines, each one due) and the
  // forwarder's (a deadline per request in flight, most never due).
  membership::Instant next_protocol_deadline() const;
  membership::Instant next_forward_deadline() const { return forwarder_.next_deadline(); }
  // Ends every forward in progress (kShuttingDown) and refuses new ones.
  void shutdown();

  // Opens (seal.h) and decodes a frame with this engine's cluster and
  // limit; counts a drop. `sealed` in the result says how it came.
  // `opened`: the TCP connection already opened the sealed record the frame
  // came in, with that key (frame_conn.h); nullopt: as it arrived.
  proto::Decoded<proto::Frame> decode_frame(std::string_view bytes, SealWith opened = std::nullopt);
  void count_drop(proto::DecodeError e) { ++drops_[static_cast<size_t>(e)]; }

  // ---- outputs ----
  std::vector<Datagram> take_datagrams() { return std::exchange(datagrams_, {}); }
  std::vector<Exchange> take_exchanges() { return std::exchange(exchanges_, {}); }
  // Forwarded requests to send, each to its owner's address (the
  // forwarder names owners by member name).
  std::vector<OutForward> take_forwards();
  // For the handler executor: run each, report with on_job_done().
  std::vector<HandlerJob> take_jobs() { return forwarder_.take_jobs(); }
  std::vector<membership::MemberEvent> take_events() { return std::exchange(events_, {}); }
  std::vector<RingChange> take_ring_changes() { return std::exchange(ring_changes_, {}); }

  // The last kEventLogMax member events, numbered from 1 in order (the
  // admin `events` command, `shoal watch`).
  struct LoggedEvent {
    uint64_t seq = 0;
    membership::MemberEvent event;
  };
  static constexpr size_t kEventLogMax = 1024;
  const std::deque<LoggedEvent>& event_log() const { return event_log_; }
  uint64_t last_event_seq() const { return event_seq_; }

  // The protocol minor version `peer` (a transport address) last said it
  // speaks; 0 if it has not said.
  uint32_t minor_of(std::string_view peer) const;
  // What a peer said it speaks, from a frame: the driver knows whom a TCP
  // answer came from (its own exchange) or who asks (a request's source).
  void note_minor(std::string_view peer, uint32_t minor);
  // Why `member` cannot take a directed request ("" if it can): unknown,
  // faulty or gone, or it said it speaks a minor before directed requests.
  std::string directed_refusal(std::string_view member) const;
  static constexpr size_t kNewerFieldsSlack = 64;

  // ---- state ----
  const std::string& address() const { return core_.address(); }
  // This node's member name (its address unless named).
  const std::string& name() const { return core_.name(); }
  const std::string& cluster() const { return core_.config().cluster; }
  const membership::Membership& core() const { return core_; }
  const RingFeed& ring() const { return ring_; }
  Seal& seal() { return *seal_; }
  Forwarder& forwarder() { return forwarder_; }
  uint64_t drops(proto::DecodeError e) const { return drops_[static_cast<size_t>(e)]; }
  // Every counter and gauge (node/counters.h), with the transport counters
  // the driver keeps.
  NodeStats stats(const NodeCounters& transport) const;

 private:
  // Moves the core's outputs out: datagrams encoded, exchanges, events
  // (which also go to the ring feed).
  void collect(membership::Instant now);

  EngineOptions options_;
  std::shared_ptr<Seal> seal_;
  membership::Membership core_;
  RingFeed ring_;
  Forwarder forwarder_;
  AppRouter app_;
  // Address -> name of the named owners forwarded to (answers and link
  // failures come back by address). Cleared when it reaches the bound.
  static constexpr size_t kForwardNamesMax = 1 << 16;
  std::map<std::string, std::string, std::less<>> forward_names_;
  bool forwarder_shut_ = false;  // shut down when this node was displaced
  std::string_view forward_name(std::string_view address) const;
  std::array<uint64_t, proto::kDecodeErrorCount> drops_{};
  std::vector<Datagram> datagrams_;
  std::vector<Exchange> exchanges_;
  std::vector<membership::MemberEvent> events_;
  std::vector<RingChange> ring_changes_;
  std::deque<LoggedEvent> event_log_;
  uint64_t event_seq_ = 0;
  // Peers' protocol minor versions, from their datagrams.
  static constexpr size_t kPeerMinorsMax = 65536;
  // Hashed: looked up on every datagram (a std::map's string compares
  // took 9% of the simulator's CPU at 1000 nodes).
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> peer_minors_;
  bool draining_ = false;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_ENGINE_H_
