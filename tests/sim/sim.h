// Copyright shoal authors. A deterministic cluster simulator: N node
// engines (node/engine.h: membership core, ring feed, forwarder), a
// virtual clock and a simulated network, in one thread.
//
// The simulator is the engine's second driver, after node/, and follows
// the same contract (engine.h): inputs are delivered as they arrive, and
// every input that has arrived by a time is delivered before the timer due
// at that time. Events sit in a heap ordered by (time, inputs before
// timers, sequence): each step jumps the clock to the earliest event and
// runs it. A paused process's events wait until it resumes, and then run
// in that order too: what arrived during the pause first, then the timer.
//
// Datagrams go through the real codec as bytes; TCP exchanges (join, sync)
// and forwarded requests through the real frame codec. The network has a
// latency distribution, per-message loss, symmetric partitions and
// per-node extra delay (a starved process). Nodes can be crashed and
// restarted; a forwarded request to a crashed node fails its link after
// about a round trip (connection refused). Everything random comes from
// one seeded Rng, so a run is a function of its seed: print the seed,
// replay the run.
//
// The simulator also observes: every member event is checked against the
// truth (which nodes are really running) to count false suspicions and
// false faulty declarations, and to time detections.

#ifndef SHOAL_TESTS_SIM_SIM_H_
#define SHOAL_TESTS_SIM_SIM_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "shoal/membership/membership.h"
#include "shoal/membership/rng.h"
#include "shoal/node/engine.h"

namespace shoal::sim {

using membership::Duration;
using membership::Instant;

struct NetworkOptions {
  // One-way latency: base + uniform [0, jitter). LAN-like by default.
  Duration latency_base = std::chrono::microseconds(200);
  Duration latency_jitter = std::chrono::microseconds(300);
  // Probability that a datagram is lost (each datagram independently).
  double loss = 0.0;
};

struct SimStats {
  uint64_t datagrams_sent = 0;
  uint64_t datagrams_lost = 0;
  uint64_t datagrams_blocked = 0;  // partition, crashed receiver
  uint64_t datagrams_oversize = 0;
  uint64_t decode_errors = 0;
  uint64_t bytes_sent = 0;
  uint64_t exchanges = 0;
  uint64_t exchange_bytes = 0;  // join and sync frames, both ways
  uint64_t forwards = 0;        // forward attempts sent over the simulated TCP
  uint64_t events_run = 0;
  // Observations against the truth.
  uint64_t false_suspect = 0;  // a running node marked suspect by someone
  uint64_t false_faulty = 0;   // a running node marked faulty by someone
  // Checker: a node's view of a member went back to a lower incarnation.
  uint64_t incarnation_regressions = 0;
};

class Simulator {
 public:
  Simulator(uint64_t seed, NetworkOptions net, membership::Config base);

  // Adds a node (not started). Its address is derived from its index.
  int add_node();
  size_t size() const { return nodes_.size(); }
  const std::string& address(int i) const { return nodes_[static_cast<size_t>(i)].address; }
  int index_of(const std::string& address) const;
  // Names node i (before it starts; default: its address). Several nodes
  // may share a name: a member restarted on another address, or a name
  // conflict.
  void set_name(int i, const std::string& name);
  const std::string& name(int i) const { return nodes_[static_cast<size_t>(i)].name; }
  // The node that holds member name `name`: a running one if any, else
  // the last one given it; -1 if none.
  int index_of_name(const std::string& name) const;

  // Starts node i (a fresh process: incarnation from the virtual clock)
  // and makes it join through `seeds`.
  void start(int i, const std::vector<std::string>& seeds);
  // Kills node i: its state is gone, messages to it are lost.
  void crash(int i);
  // Graceful leave (the node keeps running until crash()).
  void leave(int i);
  // serf's force-leave from running node i about the member `name`
  // (Membership::force_leave): "" or why not.
  std::string force_leave(int i, const std::string& name);
  // App gossip from running node i (Engine::broadcast, event, query), in
  // virtual time: "" or why not.
  std::string set_labels(int i, membership::Labels labels);
  std::string broadcast(int i, std::string name, std::string payload);
  std::string event(int i, std::string name, std::string payload, bool coalesce);
  std::string query(int i, membership::QuerySpec spec, node::QueryCallback callback);
  bool running(int i) const { return nodes_[static_cast<size_t>(i)].engine != nullptr; }
  const membership::Membership& node(int i) const { return engine(i).core(); }
  node::Engine& engine(int i) { return *nodes_[static_cast<size_t>(i)].engine; }
  const node::Engine& engine(int i) const { return *nodes_[static_cast<size_t>(i)].engine; }
  // Ring points per member for nodes started from now on (default 100).
  void set_replica_points(uint32_t points) { replica_points_ = points; }
  // Nodes started from now on keep their ring's checksum only, no ring
  // (EngineOptions::ring_checksum_only): for scenarios where nothing looks
  // a key up. Default: full rings.
  void set_ring_checksum_only(bool on) { ring_checksum_only_ = on; }

  // The handler every node runs for keys it owns (node index, key,
  // payload); without one, requests end in no_handler.
  std::function<node::HandlerResult(int, std::string_view, std::string_view)> handler;
  // If set, runs instead of `handler`, with the whole request (directed,
  // replica, endpoint).
  std::function<node::HandlerResult(int, const node::Request&)> request_handler;
  // handle_or_forward from running node `from`; `done` runs when the
  // request ends, in virtual time.
  void forward(int from, std::string key, std::string payload, node::ForwardOptions options,
               node::Forwarder::Done done);
  // Node::replicate from running node `from`, in virtual time.
  void replicate(int from, std::string key, std::string payload, node::ReplicaOptions options,
                 node::Forwarder::DoneReplicas done);

  // Extra one-way delay on every datagram to or from node i.
  void set_node_delay(int i, Duration d) { nodes_[static_cast<size_t>(i)].extra_delay = d; }
  void set_loss(double p) { net_.loss = p; }
  // Probability that a forwarding connection breaks after the owner ran the
  // handler and before its answer arrives: the sender sees the link fail
  // and retries (the owner must not run the handler again).
  void set_forward_answer_loss(double p) { forward_answer_loss_ = p; }
  // How long each handler run takes, in virtual time (default 0).
  void set_handler_delay(Duration d) { handler_delay_ = d; }
  // Loss on the link between a and b (both directions), on top of the
  // global loss: 1.0 cuts the link.
  void set_link_loss(int a, int b, double p);
  // Node i's process stops running until now + d (a GC pause, a stopped
  // container): everything addressed to it, timers included, waits and
  // runs at resume time, in order.
  void pause(int i, Duration d) { nodes_[static_cast<size_t>(i)].paused_until = now_ + d; }
  // Nodes get a side (0 = none): datagrams and exchanges between different
  // non-zero sides are dropped.
  void set_side(int i, int side) { nodes_[static_cast<size_t>(i)].side = side; }
  void heal_partition();

  // Injects a datagram as if `from_address` sent it to node `to`.
  void inject(const std::string& from_address, int to, const membership::Message& msg);
  // The same from a transport address that is no node's (an attacker, a
  // stranger): the receiver sees that address as the datagram's sender.
  void inject_from_outside(const std::string& from_address, int to, const membership::Message& msg);

  // Runs events until the clock reaches `until`.
  void run_until(Instant until);
  void run_for(Duration d) { run_until(now_ + d); }
  // Runs until pred() holds (checked every `step` of virtual time) or the
  // clock passes `deadline`; returns whether pred() held.
  bool run_until(const std::function<bool()>& pred, Instant deadline,
                 Duration step = std::chrono::milliseconds(50));

  Instant now() const { return now_; }
  double seconds() const { return std::chrono::duration<double>(now_.time_since_epoch()).count(); }

  // All running nodes have equal checksums and see exactly the running
  // nodes as alive and every other known node as not pingable.
  bool converged() const;
  // All running nodes' rings have equal checksums (RingFeed::checksum).
  bool rings_agree() const;
  // How many running nodes (other than i) consider node i not pingable.
  size_t not_pingable_count(int i) const;
  // How many running nodes (other than i) know node i alive, at its own
  // address, with at least incarnation `inc`.
  size_t alive_count(int i, membership::Incarnation inc) const;

  // Changes waiting in all running nodes' piggyback queues.
  size_t pending_changes() const;
  const SimStats& stats() const { return stats_; }
  // Called for every member event after the simulator's own checks.
  std::function<void(int observer, const membership::MemberEvent&)> on_event;
  // Every app broadcast, user event and query a node delivers.
  std::function<void(int node, const membership::AppMessage&)> on_app;
  // Called before node i runs an input (timer = false) or its timer.
  std::function<void(int node, bool timer)> on_run;

 private:
  struct Node {
    std::string address;
    std::string name;
    std::unique_ptr<node::Engine> engine;
    Instant timer_at = membership::kNever;
    Duration extra_delay{0};
    Instant paused_until{};
    // Last incarnation each member was seen at by this node (checker).
    std::map<std::string, membership::Incarnation, std::less<>> seen_incarnation;
    int side = 0;
    uint64_t generation = 0;  // bumps on crash/restart: stale events die
  };
  enum class Kind {
    kTimer,
    kDatagram,
    kTcpRequest,   // join, sync or forward request, to `node` from `from`
    kTcpResponse,  // its answer, to the client `node`
    kTcpFailure,   // an exchange of `node`'s failed
    kLinkFailure,  // `node`'s forwarding link to `bytes` (an address) failed
    kHandler,      // `node` runs its handler on job `id`
  };
  struct Event {
    Instant at;
    int rank = 0;  // 0: an input, 1: a timer (inputs first at equal times)
    uint64_t seq = 0;
    Kind kind = Kind::kTimer;
    int node = 0;             // receiver
    uint64_t generation = 0;  // receiver's generation when scheduled
    int from = -1;
    uint64_t id = 0;       // exchange or forward id (client side)
    bool forward = false;  // a forwarded request or its answer, not an exchange
    std::string bytes;
    bool operator>(const Event& o) const {
      if (at != o.at) return at > o.at;
      if (rank != o.rank) return rank > o.rank;
      return seq > o.seq;
    }
  };

  static Event make_event(Instant at, Kind kind, int node, uint64_t generation);
  void push(Event e);
  void run_event(Event& e);
  bool defer_if_paused(Event& e);
  void fail_link(int client, const std::string& peer, Instant at);
  void deliver_request(Event& e);
  // Sends `body`, the answer to `client`'s request `id`, back from `server`
  // (a table compressed if `compress`: the client speaks it).
  void answer(int server, int client, uint64_t id, bool forward, const proto::FrameBody& body,
              bool compress = false);
  void run_handler(Event& e);
  void deliver_response(Event& e);
  void after_call(int i);
  void send_datagrams(int i);
  void send_frames(int i);
  void check_events(int i);
  void schedule_timer(int i);
  bool blocked(int a, int b) const;
  Duration latency(int a, int b);

  membership::Config base_;
  uint32_t replica_points_ = ring::kDefaultReplicaPoints;
  bool ring_checksum_only_ = false;
  // Nodes whose members agree share one ring snapshot (and build it once):
  // without this, N nodes hold N copies of a ring of N x 100 points.
  ring::RingCache ring_cache_;
  // A datagram event from `from` (a node, -1: no address, <= -2: an
  // outside sender).
  void inject_as(int from, int to, const membership::Message& msg);
  // Senders of inject_from_outside(): event.from = -2 - index.
  std::vector<std::string> outside_senders_;
  NetworkOptions net_;
  membership::Rng rng_;
  Instant now_{};
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::vector<Node> nodes_;
  std::map<std::string, int, std::less<>> by_address_;
  std::map<std::string, std::vector<int>, std::less<>> by_name_;  // indices, ascending
  std::map<std::pair<int, int>, double> link_loss_;
  double forward_answer_loss_ = 0;
  Duration handler_delay_{0};
  std::map<std::pair<int, uint64_t>, node::Request> jobs_;  // (node, job id): waiting to run
  SimStats stats_;
};

}  // namespace shoal::sim

#endif  // SHOAL_TESTS_SIM_SIM_H_
