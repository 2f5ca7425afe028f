// Copyright shoal authors. A deterministic cluster simulator: N membership
// cores, a virtual clock and a simulated network, in one thread.
//
// Discrete events in a heap (time, sequence): each step jumps the clock to
// the earliest event and runs it. Datagrams go through the real codec as
// bytes; TCP exchanges (join, sync) through the real frame codec. The
// network has a latency distribution, per-message loss, symmetric
// partitions and per-node extra delay (a starved process). Nodes can be
// crashed and restarted. Everything random comes from one seeded Rng, so a
// run is a function of its seed: print the seed, replay the run.
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

#include "membership/membership.h"
#include "membership/rng.h"

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

  // Starts node i (a fresh process: incarnation from the virtual clock)
  // and makes it join through `seeds`.
  void start(int i, const std::vector<std::string>& seeds);
  // Kills node i: its state is gone, messages to it are lost.
  void crash(int i);
  // Graceful leave (the node keeps running until crash()).
  void leave(int i);
  bool running(int i) const { return nodes_[static_cast<size_t>(i)].core != nullptr; }
  membership::Membership& node(int i) { return *nodes_[static_cast<size_t>(i)].core; }

  // Extra one-way delay on every datagram to or from node i.
  void set_node_delay(int i, Duration d) { nodes_[static_cast<size_t>(i)].extra_delay = d; }
  void set_loss(double p) { net_.loss = p; }
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
  // How many running nodes (other than i) consider node i not pingable.
  size_t not_pingable_count(int i) const;
  // How many running nodes (other than i) know node i alive with at least
  // incarnation `inc`.
  size_t alive_count(int i, membership::Incarnation inc) const;

  // Changes waiting in all running nodes' piggyback queues.
  size_t pending_changes() const;
  const SimStats& stats() const { return stats_; }
  // Called for every member event after the simulator's own checks.
  std::function<void(int observer, const membership::MemberEvent&)> on_event;

 private:
  struct Node {
    std::string address;
    std::unique_ptr<membership::Membership> core;
    Instant timer_at = membership::kNever;
    Duration extra_delay{0};
    Instant paused_until{};
    // Last incarnation each member was seen at by this node (checker).
    std::map<std::string, membership::Incarnation, std::less<>> seen_incarnation;
    int side = 0;
    uint64_t generation = 0;  // bumps on crash/restart: stale events die
  };
  enum class Kind { kTimer, kDatagram, kTcpRequest, kTcpResponse, kTcpFailure };
  struct Event {
    Instant at;
    uint64_t seq = 0;
    Kind kind = Kind::kTimer;
    int node = 0;             // receiver
    uint64_t generation = 0;  // receiver's generation when scheduled
    int from = -1;
    uint64_t id = 0;  // exchange id (client side)
    std::string bytes;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  static Event make_event(Instant at, Kind kind, int node, uint64_t generation);
  void push(Event e);
  void run_event(Event& e);
  void after_call(int i);
  void schedule_timer(int i);
  bool blocked(int a, int b) const;
  Duration latency(int a, int b);

  membership::Config base_;
  NetworkOptions net_;
  membership::Rng rng_;
  Instant now_{};
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::vector<Node> nodes_;
  std::map<std::string, int, std::less<>> by_address_;
  std::map<std::pair<int, int>, double> link_loss_;
  SimStats stats_;
};

}  // namespace shoal::sim

#endif  // SHOAL_TESTS_SIM_SIM_H_
