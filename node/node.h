// Copyright shoal authors. The embedding API: a shoal cluster member in
// your process.
//
//   shoal::node::NodeOptions o;
//   o.listen = "127.0.0.1:7000";
//   o.seeds = {"127.0.0.1:7001"};
//   shoal::node::Node node(o);
//   if (auto err = node.start(); !err.empty()) { /* bind failed, bad options */ }
//   auto ring = node.ring();                 // any thread, lock-free
//   std::string_view owner = ring->lookup("user:42");
//   node.leave(std::chrono::seconds(2));     // graceful: others see `leave`
//
// Threading: the node runs one io thread that owns the membership state,
// the sockets and the ring builder; no locks guard protocol state. Public
// methods are safe from any thread: queries read published snapshots,
// commands are posted to the io thread. Callbacks (member and ring
// changes) run on the io thread: keep them short, never block in them,
// and do not call leave()/stop() from them.
//
// Hostile input never stops a node: every datagram or frame that fails
// decoding, the size limits, the version or the cluster name is counted
// (stats().drops) and dropped; TCP peers that stall or announce oversized
// frames are disconnected.

#ifndef SHOAL_NODE_NODE_H_
#define SHOAL_NODE_NODE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "membership/config.h"
#include "membership/membership.h"
#include "ring/ring.h"

namespace shoal::ring {
class RingPublisher;
}

namespace shoal::node {

struct NodeOptions {
  // Address to bind, UDP and TCP on the same port ("host:port"; port 0
  // picks a free one, see Node::address()).
  std::string listen = "127.0.0.1:7000";
  // Address other members use to reach this node, if not `listen` (NAT,
  // containers, or listen on 0.0.0.0).
  std::string advertise;
  // Members from other clusters are dropped on receipt.
  std::string cluster = "shoal";
  std::vector<std::string> seeds;
  // Labels gossiped with this member.
  membership::Labels labels;
  // Protocol parameters (address, cluster, labels and incarnation are
  // filled in by the node).
  membership::Config protocol;
  uint32_t replica_points = ring::kDefaultReplicaPoints;
  // TCP frames above this are refused before allocation.
  uint32_t frame_bytes_max = 16u << 20;
  // A TCP connection that sends nothing for this long is closed.
  std::chrono::milliseconds tcp_idle_timeout{10000};
  // A frame that started must arrive completely within this.
  std::chrono::milliseconds tcp_read_timeout{5000};
  // Prometheus text at http://<metrics_listen>/metrics; empty: off. Must be
  // a loopback address (the counters are not for the network).
  std::string metrics_listen;

  // ---- request forwarding ----
  // Requests in flight to one peer before new ones fail with kOverloaded.
  uint32_t forward_inflight_max = 4096;
  // Consecutive failures to one peer that open its circuit, and how long it
  // stays open before one trial request (half-open).
  uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open{1000};
  // A request is forwarded at most this many times.
  uint32_t forward_hops_max = 3;

  // Seed for the protocol's random choices; 0 draws one from the OS (and
  // logs it, so a run can be replayed in the simulator).
  uint64_t rng_seed = 0;

  // "" if valid, else what is wrong.
  std::string validate() const;
};

// Counters, monotonic since start.
struct NodeStats {
  uint64_t datagrams_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t send_errors = 0;
  uint64_t receive_errors = 0;  // UDP reads that failed, other than would_block
  uint64_t tcp_accepted = 0;
  uint64_t tcp_frames_in = 0;
  uint64_t tcp_oversized = 0;      // announced frame above the limit: closed
  uint64_t tcp_timeouts = 0;       // idle or slow peers: closed
  uint64_t tcp_bad_frames = 0;     // frames that did not decode: closed
  uint64_t exchanges_failed = 0;   // join/sync exchanges that we started
  uint64_t forwards_local = 0;     // handle_or_forward handled here
  uint64_t forwards_sent = 0;      // attempts sent to an owner
  uint64_t forwards_received = 0;  // requests other nodes forwarded here
  uint64_t forwards_retried = 0;
  uint64_t forward_errors = 0;  // results delivered with an error
  uint64_t breaker_opens = 0;
  // Dropped datagrams and frames by reason (codec DecodeError names:
  // malformed, too_large, bad_version, wrong_cluster, no_body, bad_field).
  std::map<std::string, uint64_t> drops;
  membership::MembershipStats protocol;
  int health_score = 0;
};

// Why a forwarded request did not produce a handler response. Values are
// the wire's ErrorCode (proto/shoal.proto).
enum class ForwardError : uint8_t {
  kOk = 0,
  kTimeout = 1,             // no answer within the request's time budget
  kOwnerUnreachable = 2,    // the owner's connection failed, retries used up
  kOverloaded = 3,          // too many requests in flight to the owner
  kCircuitOpen = 4,         // the owner failed repeatedly; not tried for a while
  kTooManyRingChanges = 5,  // each retry found another owner who disowned the key
  kNotOwner = 6,            // (on the wire) the receiver does not own the key
  kTooManyHops = 7,         // forwarded more than forward_hops_max times
  kNoHandler = 8,           // the owner has no handler registered
  kHandlerFailed = 9,       // the owner's handler reported an error
  kBadRequest = 10,
  kShuttingDown = 11,  // this node or the owner is stopping
};
std::string_view to_string(ForwardError e);

struct ForwardResult {
  ForwardError error = ForwardError::kOk;
  std::string message;     // why, for errors
  std::string payload;     // the handler's response
  std::string handled_by;  // the node that ran the handler
  int attempts = 0;        // 1 + retries used
  bool ok() const { return error == ForwardError::kOk; }
};

struct ForwardOptions {
  // Total time budget for the request, retries included.
  std::chrono::milliseconds timeout{1000};
  // Retries after a failed attempt; each looks the key up again first.
  int retries = 3;
};

// What a handler returns: a response payload, or an error message.
struct HandlerResult {
  bool ok = true;
  std::string payload;  // response if ok, error message if not
};
// Runs on the owner's io thread for keys it owns: keep it short.
using RequestHandler = std::function<HandlerResult(std::string_view key, std::string_view payload)>;

struct RingChange {
  std::shared_ptr<const ring::Ring> before;
  std::shared_ptr<const ring::Ring> after;
};

class Node {
 public:
  explicit Node(NodeOptions options);
  ~Node();  // stop()s (without leave)

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Binds the sockets, starts the io thread and joins `seeds`. Returns ""
  // on success, else why not (bad options, address in use, ...).
  std::string start();
  // Joins through these seeds (in addition to, or instead of, the options').
  void join(std::vector<std::string> seeds);
  // Gossips `leave`, waits until it has spread or `timeout`, then stops.
  void leave(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  // Stops at once: closes sockets, ends the io thread. Idempotent.
  void stop();
  // Waits until the node has stopped (after leave(), stop(), or an admin
  // "leave" request); false on timeout.
  bool wait_stopped(std::chrono::milliseconds timeout);

  // This node's advertised address (with the real port if bound to 0).
  std::string address() const;
  // The metrics HTTP address (real port if bound to 0), or "" if off.
  std::string metrics_address() const;
  // All known members, sorted by address (a snapshot).
  std::vector<membership::MemberState> members() const;
  // The current ring (alive + suspect members), lock-free. After a quiet
  // spell it follows a membership change within 10 ms; while changes keep
  // coming (a cold start, a mass restart) publications slow down to one
  // per 2 ms per member (2 s at 1000), so the ring may trail membership by
  // that much, and rebuilding it does not eat the machine.
  std::shared_ptr<const ring::Ring> ring() const;
  const ring::RingPublisher& ring_publisher() const;
  // Membership checksum, incarnation: for status displays.
  uint64_t membership_checksum() const;
  membership::Incarnation incarnation() const;
  NodeStats stats() const;

  // Ringpop's handleOrProxy: if this node owns `key`, run the local handler;
  // otherwise send the request to the owner over a pooled, pipelined TCP
  // connection. Exactly one result is delivered, always: a response or an
  // error saying why. Retries look the key up again, so a request follows
  // its key to a new owner, and runs locally if the key became local.
  // `done` runs on the io thread.
  void handle_or_forward(std::string key, std::string payload, ForwardOptions options,
                         std::function<void(ForwardResult)> done);
  std::future<ForwardResult> handle_or_forward(std::string key, std::string payload,
                                               ForwardOptions options = {});
  // The handler for keys this node owns. Set before start().
  void set_handler(RequestHandler handler);

  // Called on the io thread for every member change / new ring snapshot.
  // Register before start().
  void on_member_change(std::function<void(const membership::MemberEvent&)> callback);
  void on_ring_change(std::function<void(const RingChange&)> callback);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_NODE_H_
