// Copyright shoal authors. See sim.h.

#include "tests/sim/sim.h"

#include <cassert>
#include <set>
#include <utility>

#include "proto/codec.h"

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
  by_address_.emplace(n.address, i);
  nodes_.push_back(std::move(n));
  return i;
}

int Simulator::index_of(const std::string& address) const {
  auto it = by_address_.find(address);
  return it == by_address_.end() ? -1 : it->second;
}

void Simulator::start(int i, const std::vector<std::string>& seeds) {
  Node& n = nodes_[static_cast<size_t>(i)];
  assert(n.core == nullptr);
  membership::Config c = base_;
  c.address = n.address;
  c.incarnation =
      kEpochMs +
      static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count());
  ++n.generation;
  n.timer_at = membership::kNever;
  n.core = std::make_unique<Membership>(std::move(c), rng_.next(), now_);
  n.core->join(seeds, now_);
  after_call(i);
}

void Simulator::crash(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  n.core.reset();
  n.seen_incarnation.clear();
  ++n.generation;
  n.timer_at = membership::kNever;
}

void Simulator::leave(int i) {
  node(i).leave(now_);
  after_call(i);
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

void Simulator::schedule_timer(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  if (!n.core) return;
  const Instant t = std::max(n.core->next_deadline(), now_);
  if (t < n.timer_at) {
    n.timer_at = t;
    push(make_event(t, Kind::kTimer, i, n.generation));
  }
}

void Simulator::inject(const std::string& from_address, int to, const membership::Message& msg) {
  Event e = make_event(now_, Kind::kDatagram, to, nodes_[static_cast<size_t>(to)].generation);
  e.from = index_of(from_address);
  e.bytes = proto::encode_datagram(base_.cluster, msg);
  push(std::move(e));
}

// Drains a node's outputs into the network, checks its events.
void Simulator::after_call(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  if (!n.core) return;
  for (auto& d : n.core->take_datagrams()) {
    ++stats_.datagrams_sent;
    std::string bytes = proto::encode_datagram(base_.cluster, d.message);
    stats_.bytes_sent += bytes.size();
    if (bytes.size() > base_.datagram_budget) ++stats_.datagrams_oversize;
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
    e.bytes = std::move(bytes);
    push(std::move(e));
  }
  for (auto& x : n.core->take_exchanges()) {
    ++stats_.exchanges;
    const int to = index_of(x.to);
    if (to >= 0 && blocked(i, to)) continue;  // black hole: the core times out
    if (to < 0 || !running(to)) {
      Event e = make_event(now_ + kRefusedAfter, Kind::kTcpFailure, i, n.generation);
      e.id = x.id;
      push(std::move(e));
      continue;
    }
    proto::FrameBody body = proto::to_frame_body(std::move(x.request));
    Event e = make_event(now_ + latency(i, to), Kind::kTcpRequest, to,
                         nodes_[static_cast<size_t>(to)].generation);
    e.from = i;
    e.id = x.id;
    e.bytes = proto::encode_frame(base_.cluster, x.id, body);
    push(std::move(e));
  }
  for (const MemberEvent& ev : n.core->take_events()) {
    if (ev.forgotten) {
      n.seen_incarnation.erase(ev.address);
    } else {
      auto [it, fresh] = n.seen_incarnation.emplace(ev.address, ev.incarnation);
      if (!fresh) {
        if (ev.incarnation < it->second) ++stats_.incarnation_regressions;
        it->second = ev.incarnation;
      }
    }
    const int subject = index_of(ev.address);
    if (subject >= 0 && running(subject) && !ev.forgotten) {
      if (ev.status == Status::kSuspect) ++stats_.false_suspect;
      if (ev.status == Status::kFaulty) ++stats_.false_faulty;
    }
    if (on_event) on_event(i, ev);
  }
  schedule_timer(i);
}

void Simulator::run_event(Event& e) {
  Node& n = nodes_[static_cast<size_t>(e.node)];
  if (e.generation != n.generation || !n.core) return;  // for a process that is gone
  if (now_ < n.paused_until) {
    // The process is stopped: the event waits (its sequence number keeps
    // the order among everything deferred to the same instant).
    if (e.kind == Kind::kTimer) {
      if (e.at != n.timer_at) return;  // superseded
      n.timer_at = n.paused_until;
    }
    e.at = n.paused_until;
    push(std::move(e));
    return;
  }
  ++stats_.events_run;
  switch (e.kind) {
    case Kind::kTimer:
      if (e.at != n.timer_at) return;  // superseded by an earlier timer
      n.timer_at = membership::kNever;
      n.core->tick(now_);
      break;
    case Kind::kDatagram: {
      auto decoded = proto::decode_datagram(e.bytes, base_.cluster, base_.datagram_budget * 2);
      if (!decoded.ok()) {
        ++stats_.decode_errors;
        return;
      }
      const std::string from = e.from >= 0 ? nodes_[static_cast<size_t>(e.from)].address : "";
      n.core->on_message(from, *decoded.value, now_);
      break;
    }
    case Kind::kTcpRequest: {
      auto decoded = proto::decode_frame(e.bytes, base_.cluster, proto::kDefaultMaxFrameBytes);
      if (!decoded.ok()) {
        ++stats_.decode_errors;
        return;
      }
      auto req = proto::take_tcp_request(decoded.value->body);
      if (!req) {
        ++stats_.decode_errors;
        return;
      }
      membership::TcpResponse resp =
          n.core->on_tcp_request(nodes_[static_cast<size_t>(e.from)].address, *req, now_);
      Node& client = nodes_[static_cast<size_t>(e.from)];
      if (client.core && !blocked(e.node, e.from)) {
        Event r = make_event(now_ + latency(e.node, e.from), Kind::kTcpResponse, e.from,
                             client.generation);
        r.from = e.node;
        r.id = e.id;
        r.bytes = proto::encode_frame(base_.cluster, e.id, proto::to_frame_body(std::move(resp)));
        push(std::move(r));
      }
      break;
    }
    case Kind::kTcpResponse: {
      auto decoded = proto::decode_frame(e.bytes, base_.cluster, proto::kDefaultMaxFrameBytes);
      if (!decoded.ok()) {
        ++stats_.decode_errors;
        n.core->on_tcp_failure(e.id, now_);
        break;
      }
      auto resp = proto::take_tcp_response(decoded.value->body);
      if (!resp) {
        ++stats_.decode_errors;
        n.core->on_tcp_failure(e.id, now_);
        break;
      }
      n.core->on_tcp_response(e.id, *resp, now_);
      break;
    }
    case Kind::kTcpFailure:
      n.core->on_tcp_failure(e.id, now_);
      break;
  }
  after_call(e.node);
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
  size_t running_count = 0;
  for (const Node& n : nodes_) {
    if (!n.core) continue;
    ++running_count;
    if (first == nullptr) {
      first = n.core.get();
    } else if (n.core->checksum() != first->checksum()) {
      return false;
    }
  }
  if (first == nullptr) return true;
  // Equal checksums: check one view against the truth.
  for (const auto& m : first->members()) {
    const int i = index_of(m.address);
    const bool should_be_alive =
        i >= 0 && running(i) && !nodes_[static_cast<size_t>(i)].core->leaving();
    if (should_be_alive != (m.status == Status::kAlive)) return false;
    if (!should_be_alive && membership::is_pingable(m.status)) return false;
  }
  size_t alive = 0;
  for (const auto& m : first->members()) alive += m.status == Status::kAlive;
  size_t expected = 0;
  for (const Node& n : nodes_) expected += n.core && !n.core->leaving();
  (void)running_count;
  return alive == expected;
}

size_t Simulator::pending_changes() const {
  size_t n = 0;
  for (const Node& node : nodes_) n += node.core ? node.core->pending_changes() : 0;
  return n;
}

size_t Simulator::not_pingable_count(int i) const {
  size_t count = 0;
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (static_cast<int>(j) == i || !nodes_[j].core) continue;
    auto m = nodes_[j].core->member(address(i));
    if (!m || !membership::is_pingable(m->status)) ++count;
  }
  return count;
}

size_t Simulator::alive_count(int i, membership::Incarnation inc) const {
  size_t count = 0;
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (static_cast<int>(j) == i || !nodes_[j].core) continue;
    auto m = nodes_[j].core->member(address(i));
    if (m && m->status == Status::kAlive && m->incarnation >= inc) ++count;
  }
  return count;
}

}  // namespace shoal::sim
