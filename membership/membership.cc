// Copyright shoal authors. Membership's frame (contract in membership.h):
// construction, the public calls that belong to no one mechanism (leave,
// labels), messages in and out (dispatch by type, changes piggybacked
// within the datagram budget), events, and time: next_deadline() and tick(),
// which runs every mechanism's due work in a fixed order.
//
// The mechanisms have files of their own: claims.cc, names.cc, probing.cc,
// sync.cc, lifeguard.cc (membership.h lists them).

#include "shoal/membership/membership.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "shoal/membership/assert.h"
#include "shoal/membership/hash.h"
#include "shoal/membership/member_address.h"

namespace shoal::membership {

namespace {

int ceil_log2(size_t n) {
  int bits = 0;
  while ((size_t{1} << bits) < n) ++bits;
  return bits;
}

}  // namespace

// ------------------------------------------------------------ lifecycle

Membership::Membership(Config config, uint64_t seed, Instant now)
    : config_(std::move(config)),
      self_(config_.identity()),
      rng_(seed),
      awareness_(config_.awareness_max),
      queue_(change_bytes_max(config_)),
      app_(self_, config_.address, config_.incarnation, change_bytes_max(config_), stats_,
           AppGossip::Options{}),
      next_period_(now),
      last_sync_(now - config_.sync_interval_min),
      join_backoff_(config_.join_backoff_min),
      next_heal_(now + config_.heal_interval),
      started_(now) {
  SHOAL_ASSERT(config_.validate().empty());
  Member self;
  self.state = {self_, Status::kAlive, config_.incarnation, config_.labels, config_.address};
  auto [it, inserted] = members_.emplace(self_, std::move(self));
  checksum_ += member_hash(it->second.state);
  pingable_count_ = 1;
  enqueue(self_change());
  // The first push-pull at a point within the interval that depends on
  // the name (no random draw: every other run keeps its random choices),
  // so that a cold start's members do not all sync at once.
  if (config_.push_pull_interval > Duration::zero()) {
    const uint64_t h = fnv1a(self_);
    next_push_pull_ = now + Duration(static_cast<int64_t>(
                                h % static_cast<uint64_t>(config_.push_pull_interval.count())));
  }
}

Incarnation Membership::incarnation() const {
  return members_.find(self_)->second.state.incarnation;
}

void Membership::leave(Instant now) {
  if (leaving_) return;
  leaving_ = true;
  name_check_ = NameCheck{};
  Member& self = members_.find(self_)->second;
  set_state(self, Status::kLeave, self.state.incarnation, nullptr, self_, now, false);
  set_deadline(self, kNever);  // we do not reap ourselves
  enqueue(self_change());
  probe_.active = false;
  next_join_ = kNever;
}

std::string Membership::force_leave(const std::string& name, Instant now) {
  auto it = members_.find(name);
  if (it == members_.end()) return "no member named " + name + " is known to " + self_;
  if (name == self_) return name + " is this node: use leave";
  const Status status = it->second.state.status;
  if (status == Status::kAlive) {
    return name + " is alive: force-leave is for a member that is suspect or faulty";
  }
  if (status == Status::kLeave || status == Status::kTombstone) return "";
  ++stats_.forced_leaves;
  apply(accusation(it->second, Status::kLeave), now);
  return "";
}

std::string Membership::set_labels(Labels labels, Instant now) {
  if (std::string why = check_labels(labels); !why.empty()) return why;
  if (leaving_) return "this node is leaving";
  Member& self = members_.find(self_)->second;
  set_state(self, Status::kAlive, self.state.incarnation + 1, &labels, self_, now, false);
  config_.labels = std::move(labels);
  enqueue(self_change());
  return "";
}

bool Membership::self_disseminated() const { return queue_.find(self_) == nullptr; }

bool Membership::leave_disseminated() const { return leaving_ && queue_.find(self_) == nullptr; }

void Membership::emit(const Member& m, std::optional<Status> old, const std::string& source,
                      bool forgotten) {
  events_.push_back(MemberEvent{m.state.name, old, m.state.status, m.state.incarnation, source,
                                forgotten, m.state.labels, address_of(m.state)});
}

// ------------------------------------------------------------- messages

int Membership::retransmit_limit() const {
  return config_.retransmit_mult * std::max(1, ceil_log2(pingable_count_ + 1));
}

void Membership::piggyback(std::vector<Change>& changes, std::vector<AppMessage>& app,
                           size_t base_size) {
  // base_size was measured without changes: the body's length prefix grows
  // by up to 2 bytes (a varint) once changes are in; keep that slack.
  constexpr size_t kLengthSlack = 2;
  size_t used = base_size + kLengthSlack;
  for (const Change& c : changes) used += encoded_change_size(c);
  const size_t count_max = config_.changes_per_message_max;
  const size_t budget = config_.datagram_budget;
  if (used >= budget) return;
  // Claims come first (memberlist's order), but app messages first take up
  // to a quarter of the room while claims wait too: a backlog of claims (a
  // cold start of a thousand members) would otherwise leave them none for
  // minutes. Then claims, then app messages again in what is left.
  if (!app_.empty()) {
    const size_t share = queue_.empty() ? budget - used : (budget - used) / 4;
    used += app_.fill(app, share, retransmit_limit());
  }
  if (used < budget && changes.size() < count_max) {
    used += queue_.fill(changes, budget - used, count_max, retransmit_limit());
  }
  if (used < budget && !app_.empty()) app_.fill(app, budget - used, retransmit_limit());
}

template <class M>
void Membership::send(const std::string& to, M msg) {
  // The envelope without changes, then as many changes as fit.
  std::vector<Change> preset = std::move(msg.changes);
  msg.changes.clear();
  const size_t base = encoded_envelope_size(Message(msg), config_.cluster.size());
  msg.changes = std::move(preset);
  piggyback(msg.changes, msg.app, base);
  ++stats_.messages_out;
  datagrams_.push_back(OutDatagram{to, Message(std::move(msg))});
}

void Membership::enqueue(Change c) {
  const bool priority = priority_claim(c);
  if (!queue_.enqueue(std::move(c), priority)) ++stats_.changes_dropped;
}

// Every mechanism sends through send(); these are the datagrams there are.
template void Membership::send(const std::string&, Ping);
template void Membership::send(const std::string&, PingReq);
template void Membership::send(const std::string&, Ack);
template void Membership::send(const std::string&, Nack);
template void Membership::send(const std::string&, Gossip);

size_t Membership::change_bytes_max(const Config& config) {
  // A ping-req with every field at its largest: the fullest message a
  // change may have to ride in (2 bytes of slack as in piggyback()).
  const Message largest = PingReq{
      UINT64_MAX, config.identity(), std::string(kMemberNameMax, 'x'), UINT64_MAX, true, {}};
  const size_t base = encoded_envelope_size(largest, config.cluster.size()) + 2;
  return config.datagram_budget > base ? config.datagram_budget - base : 0;
}

void Membership::apply_changes(const std::vector<Change>& changes, Instant now) {
  size_t n = 0;
  for (const Change& c : changes) {
    if (++n > config_.changes_per_message_max) {
      stats_.changes_dropped += changes.size() - config_.changes_per_message_max;
      break;
    }
    apply(c, now);
  }
}

void Membership::on_message(std::string_view from, const Message& msg, Instant now) {
  // Identity is the claimed source; answers go back where the datagram came
  // from (the transport's address; a driver without one passes "", and the
  // source's known address is used).
  ++stats_.messages_in;
  const std::string& source =
      std::visit([](const auto& m) -> const std::string& { return m.source; }, msg);
  if (source == self_) {
    // Our own name from another address is a name check: another process
    // under our name asking whether we hold it (a ping), or the answer to
    // ours (an ack). Anything else with our name is dropped.
    const bool elsewhere = !from.empty() && from != config_.address;
    const auto* ping = std::get_if<Ping>(&msg);
    const auto* ack = std::get_if<Ack>(&msg);
    const bool check = elsewhere && ((ping != nullptr && ping->target == self_) ||
                                     (ack != nullptr && name_check_.active));
    if (!check) {
      ++stats_.messages_from_self;
      return;
    }
  }
  std::string reply_to(from);
  if (reply_to.empty()) {
    auto it = members_.find(source);
    reply_to = it == members_.end() ? source : address_of(it->second.state);
  }
  sender_ = reply_to;
  std::visit([&](const auto& m) { handle(m, reply_to, now); }, msg);
  receive_app(msg, now);
  sender_.clear();
  // After the message's claims: a newcomer's first datagram carries its own.
  note_heard(from, source);
}

void Membership::handle(const Gossip& m, const std::string& reply_to, Instant now) {
  (void)reply_to;
  apply_changes(m.changes, now);
  note_checksum(m.source, m.checksum, now);
}

// ---------------------------------------------------------------- time

Instant Membership::next_deadline() const {
  Instant t = std::min(next_period_, next_join_);
  t = std::min(t, next_heal_);
  if (probe_.active && !probe_.acked && !probe_.indirect_sent) t = std::min(t, probe_.ack_deadline);
  if (!timers_.empty()) t = std::min(t, timers_.begin()->first);
  if (name_check_.active) t = std::min(t, name_check_.deadline);
  t = std::min(t, next_push_pull_);
  for (const auto& [seq, r] : relays_) t = std::min(t, r.nack_sent ? r.expires : r.nack_deadline);
  for (const auto& [id, ex] : pending_exchanges_) t = std::min(t, ex.deadline);
  return std::min(t, app_.next_deadline());
}

// Member timers: suspect -> faulty -> tombstone -> forgotten.
void Membership::run_member_timers(Instant now) {
  for (int guard = 0; guard < 1 << 20 && !timers_.empty() && timers_.begin()->first <= now;
       ++guard) {
    const std::string name = timers_.begin()->second;
    Member& m = members_.find(name)->second;
    set_deadline(m, kNever);
    switch (m.state.status) {
      case Status::kSuspect:
        ++stats_.faulty_declared;
        apply(accusation(m, Status::kFaulty), now);
        break;
      case Status::kFaulty:
      case Status::kLeave:
        set_state(m, Status::kTombstone, m.state.incarnation, nullptr, self_, now, false);
        break;
      case Status::kTombstone:
        forget(name);
        break;
      case Status::kAlive:
        break;
    }
  }
}

void Membership::tick(Instant now) {
  // Starved of CPU? (config.h, lag_tolerance) Scored after this tick's
  // work, so that the end of an acked probe does not cancel it at once.
  // Not on the first tick: the deadlines set at construction are only as
  // punctual as the embedding's start-up (binding, resolving seeds).
  // One point per tolerance of lateness: a process that ran 400 ms late
  // on a 50 ms tolerance backs off to the maximum at once.
  const Instant due = next_deadline();
  const int64_t lag_points =
      config_.lag_tolerance > Duration::zero() && ticked_ && due != kNever &&
              now - due > config_.lag_tolerance
          ? std::min<int64_t>((now - due) / config_.lag_tolerance, config_.awareness_max)
          : 0;
  ticked_ = true;
  run_member_timers(now);

  // Relayed probes: nack when the target stayed silent, then forget.
  for (auto it = relays_.begin(); it != relays_.end();) {
    Relay& r = it->second;
    if (!r.nack_sent && now >= r.nack_deadline) {
      r.nack_sent = true;
      if (r.want_nack) {
        ++stats_.nacks_sent;
        send(r.requester, Nack{r.requester_seq, self_, {}});
      }
    }
    it = now >= r.expires ? relays_.erase(it) : std::next(it);
  }

  // TCP exchanges that never answered.
  for (auto it = pending_exchanges_.begin(); it != pending_exchanges_.end();) {
    if (now >= it->second.deadline) {
      const uint64_t id = it->first;
      ++it;
      on_tcp_failure(id, now);
    } else {
      ++it;
    }
  }

  if (name_check_.active && now >= name_check_.deadline) {
    // Unanswered: ask again, or refute after the last attempt.
    name_check_.attempts < kNameCheckAttempts ? send_name_check(now)
                                              : finish_name_check(false, now);
  }
  if (probe_.active && !probe_.acked && !probe_.indirect_sent && now >= probe_.ack_deadline) {
    send_ping_reqs(now);
  }
  if (now >= next_period_) start_period(now);
  if (now >= next_join_) attempt_join(now);
  if (now >= next_heal_) maybe_heal(now);
  if (now >= next_push_pull_) push_pull(now);
  app_.tick(now);
  if (lag_points > 0) {
    ++stats_.late_ticks;
    awareness_.apply(static_cast<int>(lag_points));
  }
}

}  // namespace shoal::membership
