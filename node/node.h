// Copyright shoal authors. The embedding API: a shoal cluster member in
// your process.
//
//   shoal::node::NodeOptions o;                     // options.h
//   o.listen = "127.0.0.1:7000";
//   o.seeds = {"127.0.0.1:7001"};
//   shoal::node::Node node(o);
//   node.set_simple_handler([](std::string_view key, std::string_view payload) {
//     return shoal::node::HandlerResult{true, "hello " + std::string(key)};
//   });
//   if (auto err = node.start()) { /* err.code, err.message: bad options, bind failed */ }
//   auto ring = node.ring();                        // any thread, lock-free
//   std::string_view owner = ring->lookup("user:42");
//   auto r = node.handle_or_forward("user:42", "hi").get();   // run by the owner
//   node.leave(std::chrono::seconds(2));            // graceful: others see `leave`
//
// What this header brings: the options (options.h), errors (error.h),
// members and events (events.h), the ring (ring/ring.h), forwarding's
// options and results (forwarding.h), the replicator's (replication.h),
// handlers (handler.h) and counters (counters.h). Nothing else of shoal's internals, and no Asio.
//
// Threading: the node runs one io thread that owns the membership state,
// the sockets and the ring builder; no locks guard protocol state. Public
// methods are safe from any thread: ring() reads a published snapshot
// without waiting; the other queries (members(), stats(), ...) ask the io
// thread and wait for its answer; commands are posted to it. Callbacks
// (member and ring changes, leave hooks, handle_or_forward's `done`) run
// on the io thread unless given an executor: keep them short and never
// block in them. They may call the node: from the io thread, leave() and
// stop() begin and return without waiting, and the future forms of
// handle_or_forward end at once in an error (waiting there would wait for
// the thread that waits): use the callback forms. Destroy a Node, and call
// stop() or leave() on it, from a thread of the app's own: not from a
// callback on the io thread (for ~Node) nor from a handler (stop() joins
// the handler threads).
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
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/node/app.h"
#include "shoal/node/counters.h"
#include "shoal/node/error.h"
#include "shoal/node/events.h"
#include "shoal/node/forwarding.h"
#include "shoal/node/handler.h"
#include "shoal/node/options.h"
#include "shoal/node/replication.h"
#include "shoal/ring/publisher.h"
#include "shoal/ring/ring.h"

namespace shoal::node {

class Node {
 public:
  explicit Node(NodeOptions options);
  ~Node();  // stop()s (without leave)

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Binds the sockets, starts the io thread and joins `seeds`. An error
  // says why not: kInvalidOptions (naming the option), kBindFailed
  // (address in use, ...), kAlreadyStarted.
  Error start();
  // Joins through these seeds (in addition to, or instead of, the options').
  // Only while running: before start() give NodeOptions::seeds.
  void join(std::vector<std::string> seeds);
  // Leaves gracefully, in two phases. Drain: labels itself draining=true,
  // so every ring drops it and its keys move on; answers forwarded
  // requests shutting_down (their senders look again); waits until the
  // label has spread and no handler runs, at most drain_timeout. Then
  // gossips `leave`, waits until it has spread or `timeout`, and stops.
  // Leave hooks run before the drain and after the leave. From the io
  // thread (a callback) it begins the leave and returns at once.
  void leave(std::chrono::milliseconds timeout);
  // The same, bounded by NodeOptions::leave_timeout.
  void leave();
  // Stops at once: closes sockets, ends the io thread. Idempotent. From
  // the io thread it begins the stop and returns; the thread ends after.
  void stop();
  // Waits until the node has stopped (after leave(), stop(), or an admin
  // "leave" request); false on timeout.
  bool wait_stopped(std::chrono::milliseconds timeout);
  // Ready once the node has joined a member of the cluster (at once
  // without seeds: a cluster of one by configuration). wait_ready: false
  // on timeout. Joined is not converged: ring()->member_count() tells how
  // many members this node's ring holds.
  std::shared_future<void> ready() const;
  bool wait_ready(std::chrono::milliseconds timeout) const;

  // This node's advertised address (with the real port if bound to 0).
  std::string address() const;
  // This node's member name: what the ring holds and ring lookups return
  // for it (NodeOptions::name, or its address if that is "").
  std::string name() const;
  // The metrics HTTP address (real port if bound to 0), or "" if off.
  std::string metrics_address() const;
  // Every member this node knows, sorted by name, departed ones included
  // (faulty, leave and tombstone, until forgotten), itself too.
  std::vector<Member> members() const;
  // The member named `name` (a ring owner, say), if known.
  std::optional<Member> member(std::string_view name) const;
  // The members that are reachable (alive or suspect, this node included;
  // a draining member is reachable but off the ring), sorted by name, that
  // `keep` accepts (all if empty; run on the caller's thread). ringpop-go's
  // GetReachableMembers.
  std::vector<Member> reachable_members(std::function<bool(const Member&)> keep = {}) const;
  // The current ring (alive + suspect members), lock-free. After a quiet
  // spell it follows a membership change within 10 ms; while changes keep
  // coming (a cold start, a mass restart) publications slow down to one
  // per 2 ms per member (2 s at 1000), so the ring may trail membership by
  // that much, and rebuilding it does not eat the machine.
  std::shared_ptr<const ring::Ring> ring() const;
  // Where ring() comes from; exists from construction, so a reader taken
  // before start() follows the live ring.
  const ring::RingPublisher& ring_publisher() const;
  // Membership checksum, incarnation: for status displays.
  uint64_t membership_checksum() const;
  Incarnation incarnation() const;
  NodeStats stats() const;

  // Ringpop's handleOrProxy: if this node owns `key`, run the local handler;
  // otherwise send the request to the owner over a pooled, pipelined TCP
  // connection. Exactly one result is delivered, always: a response or an
  // error saying why. Retries look the key up again, so a request follows
  // its key to a new owner, and runs locally if the key became local.
  // `done` runs on the io thread (on the caller's, at once, if the node is
  // not running: kShuttingDown).
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
  // A request to the member named `member`, whoever owns what
  // (memberlist's SendReliable, ringpop-go's Forward to a destination):
  // the same pooled link and contract as handle_or_forward (exactly one
  // result, the handler runs at most once, the time budget, the breaker,
  // the in-flight bound), with no ring lookup and no not_owner: retries go
  // to the same member. Its `endpoint` handler runs there (Request::key is
  // "", Request::directed is true); to this node's own name, here. A
  // member that is unknown, faulty, gone or too old to take it ends at
  // once in unknown_member; a leaving one in shutting_down.
  // (options.endpoint is replaced by `endpoint`.)
  void request(std::string member, std::string endpoint, std::string payload,
               ForwardOptions options, std::function<void(ForwardResult)> done);
  std::future<ForwardResult> request(std::string member, std::string endpoint, std::string payload,
                                     ForwardOptions options = {});
  // The replicator (replication.h; ringpop-go's `replica`): `key` to its
  // first options.n owners in this node's ring, each as a request to that
  // member (Request::replica says which owner it is, 0 the first); ends
  // once options.quorum answered ok or can no longer, with every owner's
  // answer. `done` runs on the io thread.
  void replicate(std::string key, std::string payload, ReplicaOptions options,
                 std::function<void(ReplicaResult)> done);
  std::future<ReplicaResult> replicate(std::string key, std::string payload,
                                       ReplicaOptions options = {});
  // The handler for keys this node owns (handler.h), for requests to the
  // default endpoint "": it runs on the io thread's own thread while it is
  // quick, with a relief thread that takes the io loop over once one run
  // takes NodeOptions::io_relief_after, and then on the handler threads
  // (handler_threads; 0: always the io thread); it answers through its
  // Reply from any thread.
  // May be set, replaced or removed (empty) at any time; requests that come
  // while none is set end in no_handler.
  void set_handler(AsyncHandler handler);
  // The simple form: the handler's return value is the answer.
  void set_simple_handler(RequestHandler handler);
  // The same for a named endpoint (ForwardOptions::endpoint picks it; at
  // most 64 printable ASCII bytes, no spaces: else kInvalidArgument). A
  // request for an endpoint without a handler ends in no_handler naming it.
  Error set_handler(const std::string& endpoint, AsyncHandler handler);
  Error set_simple_handler(const std::string& endpoint, RequestHandler handler);

  // Replaces this node's labels, gossiped with a new incarnation
  // (memberlist's UpdateNode). Errors: kInvalidArgument (over 512 bytes),
  // kNotRunning, kLeaving.
  Error set_labels(Labels labels);

  // Listeners for every member change (labels included) and every new
  // ring snapshot (RingChange::diff() says what moved). With an
  // `executor`, each call is handed to it (events.h); without, the
  // listener runs on the io thread and must be short. May be added and
  // removed at any time, from any thread; once remove_listener() has
  // returned, a listener gets no event the io thread takes up after that
  // (one being delivered at that moment, or already handed to an
  // executor, may still arrive).
  using ListenerId = node::ListenerId;
  using Executor = node::Executor;
  ListenerId on_member_change(std::function<void(const MemberEvent&)> callback,
                              Executor executor = {});
  ListenerId on_ring_change(std::function<void(const RingChange&)> callback,
                            Executor executor = {});
  void remove_listener(ListenerId id);
  // ---- app gossip (app.h) ----
  // Errors: kInvalidArgument (a bad name, too big: the message says by
  // how much), kNotRunning.
  Error broadcast(std::string name, std::string payload);
  Error event(std::string name, std::string payload, bool coalesce = false);
  // `done` runs once, on the io thread, when the timeout ends the query
  // (at once if it is refused).
  void query(std::string name, std::string payload, QueryOptions options,
             std::function<void(QueryResult)> done);
  std::future<QueryResult> query(std::string name, std::string payload, QueryOptions options = {});
  // This node's answer to query `query_id` (a delivered query's
  // AppMessage::id), for an answer made elsewhere (a script, a thread of
  // the app's): once, before the query's timeout. kInvalidArgument if it
  // is not awaiting one here (answered, timed out) or too big.
  Error answer_query(uint64_t query_id, std::string payload);
  // The handler that answers queries named `name` here (empty: none, and
  // a built-in comes back). kInvalidArgument for a bad name.
  Error set_query_handler(const std::string& name, QueryHandler handler);
  // Every broadcast, event and query this node delivers (as the member
  // listeners: io thread unless given an executor).
  ListenerId on_app_message(std::function<void(const AppMessage&)> callback,
                            Executor executor = {});

  // Ringpop's self-eviction hooks: `before` runs when a leave begins
  // (before the drain), `after` once the leave has been gossiped, just
  // before the node stops. On the io thread: keep them short. Either may
  // be empty. From any thread, at any time.
  void on_leave(std::function<void()> before, std::function<void()> after);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_NODE_H_
