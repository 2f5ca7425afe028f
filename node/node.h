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

#include "shoal/membership/config.h"
#include "shoal/membership/membership.h"
#include "shoal/node/counters.h"
#include "shoal/node/forwarder.h"
#include "shoal/node/ring_feed.h"
#include "shoal/node/seal.h"
#include "shoal/ring/publisher.h"
#include "shoal/ring/ring.h"

namespace shoal::node {

struct NodeOptions {
  // Address to bind, UDP and TCP on the same port ("host:port"; port 0
  // picks a free one, see Node::address()).
  std::string listen = "127.0.0.1:7000";
  // Address other members use to reach this node, if not `listen` (NAT,
  // containers, or listen on 0.0.0.0).
  std::string advertise;
  // This member's name: its identity in the cluster and on the ring
  // (letters, digits, '.', '_', '-'; at most 64 bytes). "" means its
  // advertised address. A member restarted under the same name on a new
  // address keeps its keys (docs/PROTOCOL.md "Names").
  std::string name;
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
  // A frame that started must arrive completely within this; a forwarding
  // connection with requests outstanding that reads nothing for this long
  // has failed.
  std::chrono::milliseconds tcp_read_timeout{5000};
  // Accepted TCP connections open at once; more are closed at once.
  uint32_t tcp_connections_max = 1024;
  // Join and sync answers (the whole member table each) waiting to be sent
  // at once; past that, join and sync requests are refused (the asker
  // retries later). memberlist's bound on pending push/pulls is 128.
  uint32_t full_syncs_max = 64;
  // HTTP at http://<metrics_listen>: /metrics (Prometheus text), /health
  // and /ready (node/metrics_http.h); empty: off. A loopback address unless
  // metrics_public: the counters are for the network only when the
  // operator says so (read-only either way).
  std::string metrics_listen;
  bool metrics_public = false;

  // ---- request forwarding ----
  // Threads that run the request handler; 0: the io thread runs it (only
  // for handlers that never block: a slow one delays probes and gets this
  // node suspected).
  uint32_t handler_threads = 2;
  // Requests waiting for a handler thread; more are answered overloaded.
  uint32_t handler_queue_max = 16384;
  // Requests in flight to one peer before new ones fail with kOverloaded.
  uint32_t forward_inflight_max = 4096;
  // Consecutive failures to one peer that open its circuit, and how long it
  // stays open before one trial request (half-open).
  uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open{1000};

  // Bound on a graceful leave (leave() without an argument, SIGTERM in
  // shoald, the admin `leave` command): gossip `leave`, wait until it has
  // spread or this long, then stop.
  std::chrono::milliseconds leave_timeout{2000};
  // Before that, a leave drains (Node::leave): at most this long.
  std::chrono::milliseconds drain_timeout{5000};

  // ---- the trust boundary (docs/SECURITY.md) ----
  // kOff: plaintext, admin from loopback peers only. Otherwise datagrams
  // and frames are sealed with `keyring` (non-empty; in
  // kAcceptPlaintext, to the peers that open sealed messages), admin
  // requests must be sealed, and kRequired drops plaintext (node/seal.h
  // has the modes).
  Encryption encryption = Encryption::kOff;
  Keyring keyring;
  // Where admin `keys install|use|remove` save the ring (atomically);
  // empty: key changes last until the process ends.
  std::string keyring_file;

  // Member-change log lines per second at most (a flood of forged members
  // must not flood the log); the rest are counted and reported in one
  // line. 0: no limit (benchmarks read every line).
  uint32_t member_log_per_second = 200;

  // Seed for the protocol's random choices; 0 draws one from the OS (and
  // logs it, so a run can be replayed in the simulator).
  uint64_t rng_seed = 0;

  // "" if valid, else what is wrong.
  std::string validate() const;
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
  // Leaves gracefully, in two phases. Drain: labels itself draining=true,
  // so every ring drops it and its keys move on; answers forwarded
  // requests shutting_down (their senders look again); waits until the
  // label has spread and no handler runs, at most drain_timeout. Then
  // gossips `leave`, waits until it has spread or `timeout`, and stops.
  // Leave hooks run before the drain and after the leave.
  void leave(std::chrono::milliseconds timeout);
  // The same, bounded by NodeOptions::leave_timeout.
  void leave();
  // Stops at once: closes sockets, ends the io thread. Idempotent.
  void stop();
  // Waits until the node has stopped (after leave(), stop(), or an admin
  // "leave" request); false on timeout.
  bool wait_stopped(std::chrono::milliseconds timeout);
  // Ready once the node has joined a member of the cluster (at once
  // without seeds: a cluster of one by configuration). wait_ready: false
  // on timeout.
  std::shared_future<void> ready() const;
  bool wait_ready(std::chrono::milliseconds timeout) const;

  // This node's advertised address (with the real port if bound to 0).
  std::string address() const;
  // This node's member name: what the ring holds and ring lookups return
  // for it (NodeOptions::name, or its address if that is "").
  std::string name() const;
  // The metrics HTTP address (real port if bound to 0), or "" if off.
  std::string metrics_address() const;
  // All known members, sorted by name (a snapshot).
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
  // Ringpop's handleOrProxyAll: the keys grouped by owner, one request per
  // owner (its handler sees the group in Request::keys), a result per key
  // in the order given. `done` runs on the io thread once every group ended.
  void handle_or_forward_all(std::vector<std::string> keys, std::string payload,
                             ForwardOptions options,
                             std::function<void(std::vector<KeyResult>)> done);
  std::future<std::vector<KeyResult>> handle_or_forward_all(std::vector<std::string> keys,
                                                            std::string payload,
                                                            ForwardOptions options = {});
  // The handler for keys this node owns (node/handler.h): it runs on the
  // handler executor (NodeOptions::handler_threads), never on the io thread
  // unless handler_threads is 0, and answers through its Reply from any
  // thread. May be set or replaced at any time; requests that come while
  // none is set end in no_handler.
  void set_handler(AsyncHandler handler);
  // The simple form: the handler's return value is the answer.
  void set_handler(RequestHandler handler);

  // Replaces this node's labels, gossiped with a new incarnation
  // (memberlist's UpdateNode): "" on success, else why not (over 512 bytes,
  // not running, leaving).
  std::string set_labels(membership::Labels labels);

  // Listeners for every member change (labels included) and every new
  // ring snapshot (RingChange::diff() says what moved). With an
  // `executor`, each call is handed to it (an app's thread pool or event
  // loop: executor(task) must run task() once, soon, in order if the app
  // needs order); without, the listener runs on the io thread and must be
  // short. May be added and removed at any time, from any thread; once
  // remove_listener() has returned, a listener gets no event the io
  // thread takes up after that (one being delivered at that moment, or
  // already handed to an executor, may still arrive).
  using ListenerId = uint64_t;
  using Executor = std::function<void(std::function<void()>)>;
  ListenerId on_member_change(std::function<void(const membership::MemberEvent&)> callback,
                              Executor executor = {});
  ListenerId on_ring_change(std::function<void(const RingChange&)> callback,
                            Executor executor = {});
  void remove_listener(ListenerId id);
  // Ringpop's self-eviction hooks: `before` runs when a leave begins
  // (before the drain), `after` once the leave has been gossiped, just
  // before the node stops. On the io thread: keep them short. Either may
  // be empty.
  void on_leave(std::function<void()> before, std::function<void()> after);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_NODE_H_
