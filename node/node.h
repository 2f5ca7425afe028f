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
  uint64_t tcp_accepted = 0;
  uint64_t tcp_frames_in = 0;
  uint64_t tcp_oversized = 0;     // announced frame above the limit: closed
  uint64_t tcp_timeouts = 0;      // idle or slow peers: closed
  uint64_t tcp_bad_frames = 0;    // frames that did not decode: closed
  uint64_t exchanges_failed = 0;  // join/sync exchanges that we started
  // Dropped datagrams and frames by reason (codec DecodeError names:
  // malformed, too_large, bad_version, wrong_cluster, no_body, bad_field).
  std::map<std::string, uint64_t> drops;
  membership::MembershipStats protocol;
  int health_score = 0;
};

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
  // All known members, sorted by address (a snapshot).
  std::vector<membership::MemberState> members() const;
  // The current ring (alive + suspect members), lock-free.
  std::shared_ptr<const ring::Ring> ring() const;
  const ring::RingPublisher& ring_publisher() const;
  // Membership checksum, incarnation: for status displays.
  uint64_t membership_checksum() const;
  membership::Incarnation incarnation() const;
  NodeStats stats() const;

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
