// Copyright shoal authors. See sim.h.

#include "tests/sim/sim.h"

#include <algorithm>
#include <set>
#include <utility>

#include "shoal/membership/assert.h"
#include "shoal/proto/codec.h"

namespace shoal::sim {

using membership::MemberEvent;
using membership::Membership;
using membership::Status;

namespace {
// Incarnations start at "wall-clock milliseconds" at process start; the
// simulated epoch sits at a realistic value so that restarts outrank.
constexpr uint64_t kEpochMs = 1'700'000'000'000ull;
// A connection to a crashed node is refused after about one round trip.
constexpr auto kRefusedAfter = std::chrono::milliseconds(1);
}  // namespace

Simulator::Event Simulator::make_event(Instant at, Kind kind, int node, uint64_t generation) {
  Event e;
  e.at = at;
  e.kind = kind;
  e.node = node;
  e.generation = generation;
  return e;
}

Simulator::Simulator(uint64_t seed, NetworkOptions net, membership::Config base)
    : base_(std::move(base)), net_(net), rng_(seed) {}

int Simulator::add_node() {
  const int i = static_cast<int>(nodes_.size());
  Node n;
  n.address = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
              std::to_string(i % 256) + ":7000";
  n.name = n.address;
  by_address_.emplace(n.address, i);
  by_name_[n.name].push_back(i);
  nodes_.push_back(std::move(n));
  return i;
}

int Simulator::index_of(const std::string& address) const {
  auto it = by_address_.find(address);
  return it == by_address_.end() ? -1 : it->second;
}

void Simulator::set_name(int i, const std::string& name) {
  std::string& old = nodes_[static_cast<size_t>(i)].name;
  std::vector<int>& holders = by_name_[old];
  holders.erase(std::find(holders.begin(), holders.end(), i));
  if (holders.empty()) by_name_.erase(old);
  old = name;
  std::vector<int>& now = by_name_[name];
  now.insert(std::upper_bound(now.begin(), now.end(), i), i);
}

int Simulator::index_of_name(const std::string& name) const {
  // Called for every member event: the nodes under one name, in index
  // order, not a scan of all nodes.
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return -1;
  for (int j : it->second) {
    if (nodes_[static_cast<size_t>(j)].engine) return j;
  }
  return it->second.back();
}

void Simulator::start(int i, const std::vector<std::string>& seeds) {
  Node& n = nodes_[static_cast<size_t>(i)];
  SHOAL_ASSERT(n.engine == nullptr);
  node::EngineOptions o;
  o.protocol = base_;
  o.protocol.address = n.address;
  if (n.name != n.address) o.protocol.name = n.name;
  o.protocol.incarnation =
      kEpochMs +
      static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count());
  o.replica_points = replica_points_;
  o.ring_cache = &ring_cache_;
  o.ring_checksum_only = ring_checksum_only_;
  o.no_event_log = true;  // nothing here reads it (admin's `events`)
  ++n.generation;
  n.timer_at = membership::kNever;
  n.engine = std::make_unique<node::Engine>(std::move(o), rng_.next(), now_);
  n.engine->join(seeds, now_);
  after_call(i);
}

void Simulator::crash(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  n.engine.reset();
  // Its waiting handler runs die with it (a restart numbers jobs anew).
  jobs_.erase(jobs_.lower_bound({i, 0}), jobs_.lower_bound({i + 1, 0}));
  n.seen_incarnation.clear();
  ++n.generation;
  n.timer_at = membership::kNever;
}

void Simulator::leave(int i) {
  engine(i).leave(now_);
  after_call(i);
}

void Simulator::forward(int from, std::string key, std::string payload,
                        node::ForwardOptions options, node::Forwarder::Done done) {
  engine(from).forward(std::move(key), std::move(payload), options, std::move(done), now_);
  after_call(from);
}

std::string Simulator::force_leave(int i, const std::string& name) {
  std::string why = engine(i).force_leave(name, now_);
  after_call(i);
  return why;
}

std::string Simulator::set_labels(int i, membership::Labels labels) {
  std::string why = engine(i).set_labels(std::move(labels), now_);
  after_call(i);
  return why;
}

std::string Simulator::broadcast(int i, std::string name, std::string payload) {
  std::string why = engine(i).broadcast(std::move(name), std::move(payload), now_);
  after_call(i);
  return why;
}

std::string Simulator::event(int i, std::string name, std::string payload, bool coalesce) {
  std::string why = engine(i).event(std::move(name), std::move(payload), coalesce, now_);
  after_call(i);
  return why;
}

std::string Simulator::query(int i, membership::QuerySpec spec, node::QueryCallback callback) {
  uint64_t id = 0;
  std::string why = engine(i).query(std::move(spec), std::move(callback), now_, id);
  after_call(i);
  return why;
}

void Simulator::replicate(int from, std::string key, std::string payload,
                          node::ReplicaOptions options, node::Forwarder::DoneReplicas done) {
  engine(from).replicate(std::move(key), std::move(payload), std::move(options), std::move(done),
                         now_);
  after_call(from);
}

void Simulator::set_link_loss(int a, int b, double p) {
  link_loss_[{std::min(a, b), std::max(a, b)}] = p;
}

void Simulator::heal_partition() {
  for (Node& n : nodes_) n.side = 0;
}

bool Simulator::blocked(int a, int b) const {
  const int sa = nodes_[static_cast<size_t>(a)].side, sb = nodes_[static_cast<size_t>(b)].side;
  return sa != 0 && sb != 0 && sa != sb;
}

Duration Simulator::latency(int a, int b) {
  const auto jitter = static_cast<uint64_t>(net_.latency_jitter.count());
  Duration d = net_.latency_base + Duration(jitter ? static_cast<int64_t>(rng_.below(jitter)) : 0);
  return d + nodes_[static_cast<size_t>(a)].extra_delay +
         nodes_[static_cast<size_t>(b)].extra_delay;
}

void Simulator::push(Event e) {
  e.seq = seq_++;
  events_.push(std::move(e));
}

// Lazy, as node/'s timer: only an earlier deadline pushes a new timer
// event; a timer that fires with nothing due re-arms for the real next one.
void Simulator::schedule_timer(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  if (!n.engine) return;
  const Instant t = std::max(n.engine->next_deadline(), now_);
  if (t < n.timer_at) {
    n.timer_at = t;
    Event e = make_event(t, Kind::kTimer, i, n.generation);
    e.rank = 1;
    push(std::move(e));
  }
}

void Simulator::inject(const std::string& from_address, int to, const membership::Message& msg) {
  inject_as(index_of(from_address), to, msg);
}

void Simulator::inject_from_outside(const std::string& from_address, int to,
                                    const membership::Message& msg) {
  auto it = std::find(outside_senders_.begin(), outside_senders_.end(), from_address);
  if (it == outside_senders_.end()) it = outside_senders_.insert(it, from_address);
  inject_as(-2 - static_cast<int>(it - outside_senders_.begin()), to, msg);
}

void Simulator::inject_as(int from, int to, const membership::Message& msg) {
  Event e = make_event(now_, Kind::kDatagram, to, nodes_[static_cast<size_t>(to)].generation);
  e.from = from;
  e.bytes = proto::encode_datagram(base_.cluster, msg);
  push(std::move(e));
}

// Drains a node's outputs into the network, checks its events.
void Simulator::after_call(int i) {
  if (!nodes_[static_cast<size_t>(i)].engine) return;
  send_datagrams(i);
  send_frames(i);
  check_events(i);
  for (node::HandlerJob& job : engine(i).take_jobs()) {
    jobs_[{i, job.id}] = std::move(job.request);
    Event e = make_event(now_ + handler_delay_, Kind::kHandler, i,
                         nodes_[static_cast<size_t>(i)].generation);
    e.id = job.id;
    push(std::move(e));
  }
  (void)engine(i).take_ring_changes();  // the rings are read where needed
  for (const auto& m : engine(i).take_app_deliveries()) {
    if (on_app) on_app(i, m);
  }
  schedule_timer(i);
}

void Simulator::send_datagrams(int i) {
  for (auto& d : engine(i).take_datagrams()) {
    ++stats_.datagrams_sent;
    stats_.bytes_sent += d.bytes.size();
    if (d.bytes.size() > base_.datagram_budget) ++stats_.datagrams_oversize;
    const int to = index_of(d.to);
    if (to < 0 || blocked(i, to)) {
      ++stats_.datagrams_blocked;
      continue;
    }
    if (net_.loss > 0 && rng_.unit() < net_.loss) {
      ++stats_.datagrams_lost;
      continue;
    }
    if (!link_loss_.empty()) {
      auto link = link_loss_.find({std::min(i, to), std::max(i, to)});
      if (link != link_loss_.end() && rng_.unit() < link->second) {
        ++stats_.datagrams_lost;
        continue;
      }
    }
    Event e = make_event(now_ + latency(i, to), Kind::kDatagram, to,
                         nodes_[static_cast<size_t>(to)].generation);
    e.from = i;
    e.bytes = std::move(d.bytes);
    push(std::move(e));
  }
}

// Join/sync exchanges and forwarded requests: one frame each way. To a node
// that is not running: refused after about a round trip. Across a
// partition: a black hole (the sender's own timeouts end it).
void Simulator::send_frames(int i) {
  const uint64_t generation = nodes_[static_cast<size_t>(i)].generation;
  auto send = [&](const std::string& address, uint64_t id, const proto::FrameBody& body,
                  bool forward, bool compress) {
    const int to = index_of(address);
    if (to >= 0 && blocked(i, to)) return;
    if (to < 0 || !running(to)) {
      if (forward) return fail_link(i, address, now_ + kRefusedAfter);
      Event e = make_event(now_ + kRefusedAfter, Kind::kTcpFailure, i, generation);
      e.id = id;
      push(std::move(e));
      return;
    }
    Event e = make_event(now_ + latency(i, to), Kind::kTcpRequest, to,
                         nodes_[static_cast<size_t>(to)].generation);
    e.from = i;
    e.id = id;
    e.forward = forward;
    e.bytes = proto::encode_frame(base_.cluster, id, body, compress);
    if (!forward) stats_.exchange_bytes += e.bytes.size();
    push(std::move(e));
  };
  for (auto& x : engine(i).take_exchanges()) {
    ++stats_.exchanges;
    send(x.to, x.id, x.request, false, x.compress);
  }
  for (auto& f : engine(i).take_forwards()) {
    ++stats_.forwards;
    send(f.peer, f.id, f.request, true, false);
  }
}

void Simulator::check_events(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  for (const MemberEvent& ev : n.engine->take_events()) {
    if (ev.forgotten) {
      n.seen_incarnation.erase(ev.name);
    } else {
      auto [it, fresh] = n.seen_incarnation.emplace(ev.name, ev.incarnation);
      if (!fresh) {
        if (ev.incarnation < it->second) ++stats_.incarnation_regressions;
        it->second = ev.incarnation;
      }
    }
    const int subject = index_of_name(ev.name);
    if (subject >= 0 && running(subject) && !ev.forgotten && ev.address == address(subject)) {
      if (ev.status == Status::kSuspect) ++stats_.false_suspect;
      if (ev.status == Status::kFaulty) ++stats_.false_faulty;
    }
    if (on_event) on_event(i, ev);
  }
}

// Node `client`'s forwarding link to `peer` fails at `at` (refused, reset).
void Simulator::fail_link(int client, const std::string& peer, Instant at) {
  Event f =
      make_event(at, Kind::kLinkFailure, client, nodes_[static_cast<size_t>(client)].generation);
  f.bytes = peer;
  push(std::move(f));
}

// A stopped process runs nothing: the event waits until it resumes (the
// rank and sequence keep inputs before the timer, and each in order).
bool Simulator::defer_if_paused(Event& e) {
  Node& n = nodes_[static_cast<size_t>(e.node)];
  if (now_ >= n.paused_until) return false;
  if (e.kind == Kind::kTimer) {
    if (e.at != n.timer_at) return true;  // superseded
    n.timer_at = n.paused_until;
  }
  e.at = n.paused_until;
  push(std::move(e));
  return true;
}

void Simulator::run_event(Event& e) {
  Node& n = nodes_[static_cast<size_t>(e.node)];
  if (e.generation != n.generation || !n.engine) {
    // For a process that is gone. A forwarded request's connection is
    // refused (reset) instead of answered.
    if (e.kind == Kind::kTcpRequest && e.forward && running(e.from)) {
      fail_link(e.from, n.address, now_ + kRefusedAfter);
    }
    return;
  }
  if (defer_if_paused(e)) return;
  ++stats_.events_run;
  if (on_run && (e.kind != Kind::kTimer || e.at == n.timer_at)) {
    on_run(e.node, e.kind == Kind::kTimer);
  }
  switch (e.kind) {
    case Kind::kTimer:
      if (e.at != n.timer_at) return;  // superseded by an earlier timer
      n.timer_at = membership::kNever;
      n.engine->tick(now_);
      break;
    case Kind::kDatagram: {
      const std::string from = e.from >= 0    ? nodes_[static_cast<size_t>(e.from)].address
                               : e.from <= -2 ? outside_senders_[static_cast<size_t>(-2 - e.from)]
                                              : "";
      if (n.engine->on_datagram(from, e.bytes, now_).dropped()) ++stats_.decode_errors;
      break;
    }
    case Kind::kTcpRequest:
      deliver_request(e);
      break;
    case Kind::kTcpResponse:
      deliver_response(e);
      break;
    case Kind::kTcpFailure:
      n.engine->on_exchange_failed(e.id, now_);
      break;
    case Kind::kLinkFailure:
      n.engine->on_link_failed(e.bytes, "connection refused", now_);
      break;
    case Kind::kHandler:
      run_handler(e);
      break;
  }
  after_call(e.node);
}

void Simulator::deliver_request(Event& e) {
  node::Engine& server = engine(e.node);
  auto decoded = server.decode_frame(e.bytes);
  if (!decoded.ok()) {
    ++stats_.decode_errors;
    return;
  }
  if (auto* f = std::get_if<proto::ForwardRequest>(&decoded.value->body)) {
    server.on_forward_request(
        std::move(*f), now_, now_,
        [this, at = e.node, from = e.from, id = e.id](const proto::ForwardResponse& r) {
          answer(at, from, id, true, r);
        });
    return;
  }
  auto reply = server.on_request(address(e.from), decoded.value->body, now_);
  if (!reply) {
    ++stats_.decode_errors;
    return;
  }
  answer(e.node, e.from, e.id, e.forward, *reply, decoded.minor >= membership::kMinorCompression);
}

void Simulator::answer(int server, int client_index, uint64_t id, bool forward,
                       const proto::FrameBody& body, bool compress) {
  Node& client = nodes_[static_cast<size_t>(client_index)];
  if (!client.engine || blocked(server, client_index)) return;
  if (forward && forward_answer_loss_ > 0 && rng_.unit() < forward_answer_loss_) {
    return fail_link(client_index, address(server), now_ + latency(server, client_index));
  }
  Event r = make_event(now_ + latency(server, client_index), Kind::kTcpResponse, client_index,
                       client.generation);
  r.from = server;
  r.id = id;
  r.forward = forward;
  r.bytes = proto::encode_frame(base_.cluster, id, body, compress);
  if (!forward) stats_.exchange_bytes += r.bytes.size();
  push(std::move(r));
}

// A handler run, in virtual time: the handler is the simulator's, the same
// for every node; a request whose deadline has passed is not run.
void Simulator::run_handler(Event& e) {
  auto job = jobs_.extract({e.node, e.id});
  if (job.empty()) return;
  const int i = e.node;
  node::AsyncHandler h;
  if (request_handler) {
    h = [this, i](node::Request r, node::Reply reply) {
      node::HandlerResult out = request_handler(i, r);
      out.ok ? reply.ok(std::move(out.payload)) : reply.fail(std::move(out.payload));
    };
  } else if (handler) {
    h = node::adapt([this, i](std::string_view key, std::string_view payload) {
      return handler(i, key, payload);
    });
  }
  const bool expired = job.mapped().deadline <= node::to_steady(now_);
  node::Engine& server = engine(i);
  node::run_request(h ? &h : nullptr, std::move(job.mapped()), expired,
                    [this, &server, id = e.id](node::HandlerOutcome o) {
                      server.on_job_done(id, std::move(o), now_);
                    });
}

void Simulator::deliver_response(Event& e) {
  node::Engine& client = engine(e.node);
  auto decoded = client.decode_frame(e.bytes);
  if (!decoded.ok()) ++stats_.decode_errors;
  if (e.forward) {
    auto* resp = decoded.ok() ? std::get_if<proto::ForwardResponse>(&decoded.value->body) : nullptr;
    if (resp == nullptr) {
      ++stats_.decode_errors;
      client.on_link_failed(address(e.from), "bad answer", now_);
      return;
    }
    client.on_forward_response(address(e.from), e.id, std::move(*resp), now_);
    return;
  }
  if (!decoded.ok()) {
    client.on_exchange_failed(e.id, now_);
    return;
  }
  client.note_minor(address(e.from), decoded.minor);  // as node/ does
  if (!client.on_exchange_response(e.id, decoded.value->body, now_)) ++stats_.decode_errors;
}

void Simulator::run_until(Instant until) {
  while (!events_.empty() && events_.top().at <= until) {
    Event e = std::move(const_cast<Event&>(events_.top()));
    events_.pop();
    now_ = std::max(now_, e.at);
    run_event(e);
  }
  now_ = std::max(now_, until);
}

bool Simulator::run_until(const std::function<bool()>& pred, Instant deadline, Duration step) {
  while (now_ < deadline) {
    if (pred()) return true;
    run_until(std::min(deadline, now_ + step));
  }
  return pred();
}

bool Simulator::converged() const {
  const Membership* first = nullptr;
  for (const Node& n : nodes_) {
    if (!n.engine) continue;
    if (first == nullptr) {
      first = &n.engine->core();
    } else if (n.engine->core().checksum() != first->checksum()) {
      return false;
    }
  }
  if (first == nullptr) return true;
  // Equal checksums: check one view against the truth.
  for (const auto& m : first->members()) {
    const int i = index_of_name(m.name);
    const bool should_be_alive =
        i >= 0 && running(i) && !node(i).leaving() && membership::address_of(m) == address(i);
    if (should_be_alive != (m.status == Status::kAlive)) return false;
    if (!should_be_alive && membership::is_pingable(m.status)) return false;
  }
  size_t alive = 0;
  for (const auto& m : first->members()) alive += m.status == Status::kAlive;
  size_t expected = 0;
  for (const Node& n : nodes_) expected += n.engine && !n.engine->core().leaving();
  return alive == expected;
}

bool Simulator::rings_agree() const {
  std::optional<uint64_t> checksum;
  for (const Node& n : nodes_) {
    if (!n.engine) continue;
    const uint64_t c = n.engine->ring().checksum();
    if (checksum && *checksum != c) return false;
    checksum = c;
  }
  return true;
}

size_t Simulator::pending_changes() const {
  size_t n = 0;
  for (const Node& node : nodes_) n += node.engine ? node.engine->core().pending_changes() : 0;
  return n;
}

size_t Simulator::not_pingable_count(int i) const {
  size_t count = 0;
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (static_cast<int>(j) == i || !nodes_[j].engine) continue;
    auto m = nodes_[j].engine->core().member(name(i));
    if (!m || !membership::is_pingable(m->status)) ++count;
  }
  return count;
}

size_t Simulator::alive_count(int i, membership::Incarnation inc) const {
  size_t count = 0;
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (static_cast<int>(j) == i || !nodes_[j].engine) continue;
    auto m = nodes_[j].engine->core().member(name(i));
    if (m && m->status == Status::kAlive && m->incarnation >= inc &&
        membership::address_of(*m) == address(i)) {
      ++count;
    }
  }
  return count;
}

}  // namespace shoal::sim
