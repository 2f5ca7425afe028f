// Copyright shoal authors. Everything over TCP, and the anti-entropy built
// on it: joining through seeds (retried forever with capped backoff while
// alone), partition healing (now and then, a join request to a faulty
// member or an unreachable seed), full syncs when gossiped checksums keep
// disagreeing, the fallback ping's answer, and the bookkeeping of
// exchanges.
//
// Contract: every exchange this node starts ends exactly once, answered or
// failed (an answer of the wrong kind, or none by tcp_timeout, fails); a
// join round ends when all its exchanges have.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "shoal/membership/membership.h"

namespace shoal::membership {

void Membership::set_seeds(const std::vector<std::string>& seeds) {
  seeds_.clear();
  for (const std::string& s : seeds) {
    if (s.empty() || s == config_.address) continue;
    if (std::find(seeds_.begin(), seeds_.end(), s) != seeds_.end()) continue;
    if (seeds_.size() >= kSeedsMax) break;
    seeds_.push_back(s);
  }
}

void Membership::join(const std::vector<std::string>& seeds, Instant now) {
  set_seeds(seeds);
  joined_ = seeds_.empty();
  if (!joined_) {
    next_join_ = now;
    attempt_join(now);
  }
}

void Membership::note_checksum(const std::string& source, uint64_t checksum, Instant now) {
  if (source == self_) return;  // a name check's ping or answer
  if (checksum == checksum_) {
    sync_mismatches_ = 0;
    return;
  }
  if (sync_mismatches_++ == 0) mismatch_since_ = now;
  if (sync_mismatches_ < config_.sync_mismatches_trigger) return;
  if (now < mismatch_since_ + config_.sync_mismatch_min) return;
  if (sync_in_flight_ || now < last_sync_ + config_.sync_interval_min) return;
  auto it = members_.find(source);
  if (it == members_.end() || !is_pingable(it->second.state.status)) return;
  sync_mismatches_ = 0;
  sync_in_flight_ = true;
  last_sync_ = now;
  ++stats_.syncs_sent;
  start_exchange(ExchangeKind::kSync, address_of(it->second.state),
                 SyncRequest{self_, checksum_, member_states(), local_app_state(false)}, now);
}

// -------------------------------------------------------- TCP exchanges

uint64_t Membership::start_exchange(ExchangeKind kind, const std::string& to, TcpRequest req,
                                    Instant now) {
  const uint64_t id = next_exchange_id_++;
  pending_exchanges_.emplace(id, Exchange{kind, to, now + config_.tcp_timeout});
  exchanges_out_.push_back(OutExchange{id, to, std::move(req)});
  return id;
}

TcpResponse Membership::on_tcp_request(std::string_view from, const TcpRequest& req, Instant now) {
  if (const auto* join = std::get_if<JoinRequest>(&req)) {
    const Change claim{join->source, Status::kAlive,    join->incarnation, join->labels,
                       join->source, join->incarnation, join->address};
    // Our own name from elsewhere is a claim on it (apply checks it).
    if (!join->source.empty() && !leaving_ &&
        (join->source != self_ || address_of(claim) != config_.address)) {
      apply(claim, now);
      note_heard_over_tcp(from, join->source, false);
      // Its state, once it is a member here (not if the app vetoed it).
      if (members_.count(join->source) != 0) merge_app_state(join->app_state, true);
    }
    return JoinResponse{self_, checksum_, member_states(), local_app_state(true)};
  }
  if (const auto* ping = std::get_if<Ping>(&req)) {
    // The fallback probe: says only that this node is up. An Ack whose
    // source is not the ping's target is ignored by the prober, as over UDP
    // (a displaced node answers under its address: not the name it lost).
    return Ack{ping->seq, displaced_ ? config_.address : self_, checksum_, {}};
  }
  const auto& sync = std::get<SyncRequest>(req);
  ++stats_.syncs_received;
  if (sync.source != self_) {
    merge_members(sync.members, sync.source, now, MergeKind::kSync);
    note_heard_over_tcp(from, sync.source, false);
    if (members_.count(sync.source) != 0) merge_app_state(sync.app_state, false);
  }
  return SyncResponse{self_, checksum_, member_states(), local_app_state(false)};
}

void Membership::on_tcp_response(uint64_t id, const TcpResponse& resp, Instant now) {
  auto it = pending_exchanges_.find(id);
  if (it == pending_exchanges_.end()) return;  // timed out already
  const Exchange ex = it->second;
  // An answer of another kind than the question (a broken or hostile
  // peer) is a failed exchange: a join round must still end.
  const bool fits = ex.kind == ExchangeKind::kTcpPing ? std::holds_alternative<Ack>(resp)
                    : ex.kind == ExchangeKind::kSync  ? std::holds_alternative<SyncResponse>(resp)
                                                      : std::holds_alternative<JoinResponse>(resp);
  if (!fits) return on_tcp_failure(id, now);
  pending_exchanges_.erase(it);
  if (const auto* ack = std::get_if<Ack>(&resp)) {
    if (probe_.active && !probe_.acked && ack->seq == probe_.seq && ack->source == probe_.target &&
        ex.to == probe_.address) {
      probe_.acked = true;
      ++stats_.tcp_probe_acks;
    }
    return;
  }
  if (const auto* join = std::get_if<JoinResponse>(&resp)) {
    merge_members(join->members, join->responder, now,
                  ex.kind == ExchangeKind::kHeal ? MergeKind::kHeal : MergeKind::kJoin);
    note_heard_over_tcp(ex.to, join->responder, true);
    merge_app_state(join->app_state, ex.kind == ExchangeKind::kJoin);
    if (ex.kind == ExchangeKind::kJoin) {
      joined_ = true;
      join_backoff_ = config_.join_backoff_min;
      finish_join_round(now);
    }
  } else if (const auto* sync = std::get_if<SyncResponse>(&resp)) {
    merge_members(sync->members, sync->responder, now, MergeKind::kSync);
    note_heard_over_tcp(ex.to, sync->responder, true);
    merge_app_state(sync->app_state, false);
    sync_in_flight_ = false;
  }
}

void Membership::on_tcp_failure(uint64_t id, Instant now) {
  auto it = pending_exchanges_.find(id);
  if (it == pending_exchanges_.end()) return;
  const ExchangeKind kind = it->second.kind;
  pending_exchanges_.erase(it);
  if (kind == ExchangeKind::kJoin) {
    ++stats_.joins_failed;
    finish_join_round(now);
  } else if (kind == ExchangeKind::kSync) {
    sync_in_flight_ = false;
  }
}

void Membership::attempt_join(Instant now) {
  next_join_ = kNever;
  if (leaving_ || displaced_ || seeds_.empty()) return;
  std::vector<std::string> candidates = seeds_;
  rng_.shuffle(candidates.begin(), candidates.end());
  candidates.resize(std::min(candidates.size(), static_cast<size_t>(config_.join_fanout)));
  join_round_pending_ = static_cast<int>(candidates.size());
  for (const std::string& seed : candidates) {
    ++stats_.joins_sent;
    start_exchange(ExchangeKind::kJoin, seed, join_request(), now);
  }
}

JoinRequest Membership::join_request() {
  const MemberState& s = members_.find(self_)->second.state;
  return JoinRequest{self_, s.incarnation, s.labels, s.address, local_app_state(true)};
}

// ------------------------------------------------- push-pull, app state

Duration Membership::push_pull_interval() const {
  // memberlist's pushPullScale: x (ceil(log2(N) - log2(32)) + 1) past 32.
  constexpr double kThreshold = 32;
  const auto n = static_cast<double>(pingable_count_);
  if (n <= kThreshold) return config_.push_pull_interval;
  const auto mult = static_cast<int64_t>(std::ceil(std::log2(n) - std::log2(kThreshold))) + 1;
  return config_.push_pull_interval * mult;
}

void Membership::push_pull(Instant now) {
  next_push_pull_ = now + push_pull_interval();
  if (leaving_ || displaced_ || !joined_ || sync_in_flight_) return;
  const std::vector<std::string> peer = random_pingable(1, "");
  if (peer.empty()) return;
  ++stats_.push_pulls;
  ++stats_.syncs_sent;
  sync_in_flight_ = true;
  last_sync_ = now;
  start_exchange(ExchangeKind::kSync, peer[0],
                 SyncRequest{self_, checksum_, member_states(), local_app_state(false)}, now);
}

std::string Membership::local_app_state(bool join) {
  if (!app_state_.local) return {};
  std::string state = app_state_.local(join);
  if (state.size() <= kAppStateMax) return state;
  ++stats_.app_state_refused;
  return {};
}

void Membership::merge_app_state(const std::string& state, bool join) {
  if (state.empty() || !app_state_.merge) return;
  if (state.size() > kAppStateMax) {
    ++stats_.app_state_refused;
    return;
  }
  app_state_.merge(state, join);
}

void Membership::finish_join_round(Instant now) {
  if (--join_round_pending_ > 0) return;
  join_round_pending_ = 0;
  // Not alone though no seed answered: a member reached us meanwhile (its
  // heal or join merged our tables: a node restarted while cut off is
  // joined by the others when the cut heals). That is joining too: without
  // it no attempt would follow, and the node would wait forever.
  if (pingable_count_ > 1 && !joined_) {
    joined_ = true;
    join_backoff_ = config_.join_backoff_min;
    return;
  }
  // Alone (nobody answered, nobody reached us): try again later, forever,
  // with capped exponential backoff and jitter.
  if (pingable_count_ <= 1 && !leaving_) {
    joined_ = false;
    const auto jitter = Duration(
        static_cast<int64_t>(rng_.unit() * static_cast<double>(join_backoff_.count()) * 0.25));
    next_join_ = now + join_backoff_ + jitter;
    join_backoff_ = std::min(join_backoff_ * 2, config_.join_backoff_max);
  }
}

void Membership::maybe_heal(Instant now) {
  const auto jitter = Duration(
      static_cast<int64_t>(rng_.unit() * static_cast<double>(config_.heal_interval.count()) * 0.2));
  next_heal_ = now + config_.heal_interval + jitter;
  // While not joined, the join loop is already contacting the seeds.
  if (leaving_ || displaced_ || !joined_ || config_.heal_fanout == 0) return;
  // About heal_fanout attempts per interval across the cluster.
  const double p = std::min(
      1.0, static_cast<double>(config_.heal_fanout) / static_cast<double>(pingable_count_));
  if (rng_.unit() >= p) return;
  std::vector<std::string> targets;
  std::set<std::string_view> reachable;  // addresses of pingable members
  for (const auto& [name, m] : members_) {
    if (m.state.status == Status::kFaulty) targets.push_back(address_of(m.state));
    if (is_pingable(m.state.status)) reachable.insert(address_of(m.state));
  }
  for (const std::string& s : seeds_) {
    if (reachable.count(s) == 0) targets.push_back(s);
  }
  if (targets.empty()) return;
  const std::string& target = targets[rng_.below(targets.size())];
  ++stats_.heals_sent;
  start_exchange(ExchangeKind::kHeal, target, join_request(), now);
}

}  // namespace shoal::membership
