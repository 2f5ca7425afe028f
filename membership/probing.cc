// Copyright shoal authors. Failure detection: SWIM probing as drawn in
// membership.h. One probe per protocol period, targets in shuffled
// round-robin order; a ping, then ping-reqs through helpers (with
// Lifeguard's nacks) and the TCP fallback ping; suspicion only after
// probe_strikes failed periods. Also the peer list behind every random
// choice, and the handlers of ping, ping-req, ack and nack.
//
// Contract: this node accuses a member only after its own probes of it
// failed; acks count only by seq and source; pings go only to members this
// node itself knows as pingable, at the address it knows (no reflection).

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shoal/membership/assert.h"
#include "shoal/membership/membership.h"

namespace shoal::membership {

void Membership::insert_probe_target(const Member& m) {
  // A random position among the members not yet probed this round, so a
  // newcomer is probed within one round and joins do not bunch up.
  ProbeOrder& order = m.heard ? heard_order_ : unheard_order_;
  const size_t remaining = order.names.size() - std::min(order.next, order.names.size());
  const size_t pos = order.next + rng_.below(remaining + 1);
  order.names.insert(order.names.begin() + static_cast<std::ptrdiff_t>(pos), m.state.name);
}

std::optional<std::string> Membership::next_probe_target() {
  // Members heard from directly and members known only by others' word
  // take turns: a flood of invented members (alive claims forged by a
  // stranger) cannot crowd the real ones out of probing, and the unheard
  // are still probed, so the invented end faulty and real newcomers heard.
  unheard_turn_ = !unheard_turn_;
  auto target = next_in(unheard_turn_ ? unheard_order_ : heard_order_, !unheard_turn_);
  if (!target) target = next_in(unheard_turn_ ? heard_order_ : unheard_order_, unheard_turn_);
  return target;
}

std::optional<std::string> Membership::next_in(ProbeOrder& order, bool heard) {
  // Bounded: at most one pass over the current order plus one rebuild.
  for (int pass = 0; pass < 2; ++pass) {
    while (order.next < order.names.size()) {
      const std::string& candidate = order.names[order.next++];
      auto it = members_.find(candidate);
      if (it != members_.end() && candidate != self_ && is_pingable(it->second.state.status) &&
          it->second.heard == heard) {
        return candidate;
      }
    }
    order.names.clear();
    order.next = 0;
    for (const Member* m : peers_) {
      if (m->heard == heard) order.names.push_back(m->state.name);
    }
    // Sorted first: peers_ order depends on history, the shuffle on the seed.
    std::sort(order.names.begin(), order.names.end());
    rng_.shuffle(order.names.begin(), order.names.end());
  }
  return std::nullopt;
}

void Membership::list_add(std::vector<Member*>& list, size_t Member::*index, Member& m) {
  m.*index = list.size();
  list.push_back(&m);
}

void Membership::list_remove(std::vector<Member*>& list, size_t Member::*index, Member& m) {
  // Swap-remove: O(1); the order is a deterministic function of the
  // sequence of changes, so random draws from the list stay reproducible.
  const size_t i = m.*index;
  SHOAL_ASSERT(i < list.size() && list[i] == &m);
  list[i] = list.back();
  list[i]->*index = i;
  list.pop_back();
  m.*index = kNoPeer;
}

void Membership::remove_peer(Member& m) {
  list_remove(peers_, &Member::peer_index, m);
  update_heard_peer(m);
}

std::vector<std::string> Membership::random_pingable(size_t count, std::string_view exclude) {
  // From the members heard from directly when they are enough (a gossip
  // or a ping-req sent to an invented member is lost), else from all.
  const std::vector<Member*>& pool = heard_peers_.size() >= count ? heard_peers_ : peers_;
  // Partial Fisher-Yates over indices: `count` distinct peers in O(count).
  std::vector<std::string> out;
  const size_t n = pool.size();
  std::vector<std::pair<size_t, size_t>> swapped;  // virtual swaps, undone implicitly
  auto at = [&](size_t i) {
    for (auto it = swapped.rbegin(); it != swapped.rend(); ++it) {
      if (it->first == i) return it->second;
    }
    return i;
  };
  for (size_t k = 0; k < n && out.size() < count; ++k) {
    const size_t j = k + rng_.below(n - k);
    const size_t pick = at(j);
    swapped.emplace_back(j, at(k));
    const MemberState& peer = pool[pick]->state;
    if (peer.name != exclude) out.push_back(address_of(peer));
  }
  return out;
}

void Membership::finish_probe(Instant now) {
  if (!probe_.active) return;
  probe_.active = false;
  if (probe_.acked) {
    awareness_.apply(-1);
    strikes_ = 0;
    return;
  }
  ++stats_.probes_failed;
  // Lifeguard: if helpers were asked and fewer nacks came back than
  // expected, our own network may be the problem: raise our health score.
  awareness_.apply(probe_.nacks_expected > 0 ? probe_.nacks_expected - probe_.nacks : 1);
  auto it = members_.find(probe_.target);
  if (it == members_.end() || !is_pingable(it->second.state.status)) return;
  // Two strikes: one failed period could be bad luck with lost datagrams
  // (at 30% loss a third of all probes need the indirect path, and 1 in 5
  // fails outright). Probe the same member again next period; suspect it
  // only if that fails too. Squares the false-suspicion rate (0.22 ->
  // 0.05 per probe at 30% loss) for one extra period of detection time.
  if (config_.probe_strikes > 1 && ++strikes_ < config_.probe_strikes) {
    retry_target_ = probe_.target;
    return;
  }
  apply(accusation(it->second, Status::kSuspect), now);
}

void Membership::start_period(Instant now) {
  finish_probe(now);
  next_period_ = now + awareness_.scale(config_.protocol_period);

  // A leaving node stops probing but keeps gossiping its leave; a displaced
  // one takes no part at all.
  if (displaced_) return;
  if (!leaving_) start_probe(now);

  // Gossip fan-out while there is news.
  if ((!queue_.empty() || !app_.empty()) && config_.gossip_fanout > 0) {
    for (const std::string& to : random_pingable(static_cast<size_t>(config_.gossip_fanout),
                                                 probe_.active ? probe_.target : "")) {
      ++stats_.gossips_sent;
      send(to, Gossip{self_, checksum_, {}});
      if (queue_.empty() && app_.empty()) break;
    }
  }
}

void Membership::start_probe(Instant now) {
  std::optional<std::string> target;
  if (!retry_target_.empty()) {
    // A second chance for the member that just failed to answer.
    auto it = members_.find(retry_target_);
    if (it != members_.end() && is_pingable(it->second.state.status)) target = retry_target_;
    retry_target_.clear();
  }
  if (!target) {
    strikes_ = 0;
    target = next_probe_target();
  }
  if (target) {
    probe_ = Probe{};
    probe_.active = true;
    probe_.target = *target;
    probe_.address = address_of(members_.find(*target)->second.state);
    probe_.seq = next_seq_++;
    probe_.ack_deadline = now + awareness_.scale(config_.ping_timeout);
    probe_.end = next_period_;
    ++stats_.probes;
    Ping ping{probe_.seq, self_, probe_.target, checksum_, {}};
    // Lifeguard's buddy system: a ping to a suspect carries the suspicion,
    // so a live member learns it is suspected from its first prober.
    const Member& m = members_.find(probe_.target)->second;
    if (m.state.status == Status::kSuspect) {
      ping.changes.push_back(change_of(m, self_));
    }
    send(probe_.address, std::move(ping));
  }
}

void Membership::send_ping_reqs(Instant now) {
  probe_.indirect_sent = true;
  const auto helpers = random_pingable(static_cast<size_t>(config_.ping_req_fanout), probe_.target);
  probe_.nacks_expected = static_cast<int>(helpers.size());
  // Ping the target once more alongside the helpers: a lost ping or ack is
  // the likeliest reason for silence, and this costs one datagram.
  send(probe_.address, Ping{probe_.seq, self_, probe_.target, checksum_, {}});
  for (const std::string& h : helpers) {
    ++stats_.ping_reqs_sent;
    send(h, PingReq{probe_.seq, self_, probe_.target, checksum_, true, {}});
  }
  if (config_.tcp_fallback_probe) {
    ++stats_.tcp_probes_sent;
    start_exchange(ExchangeKind::kTcpPing, probe_.address,
                   Ping{probe_.seq, self_, probe_.target, checksum_, {}}, now);
  }
}

void Membership::handle(const Ping& m, const std::string& reply_to, Instant now) {
  apply_changes(m.changes, now);
  if (m.source == self_ && name_check_.active && m.seq == name_check_.seq) {
    // Our own name check came back to us (the claimed address is one of
    // ours): no other process there.
    ++stats_.messages_from_self;
    return;
  }
  if (m.target != self_ || displaced_) {
    // Meant for a former occupant of this address (or misrouted): an ack
    // would vouch for a member that is not us.
    ++stats_.pings_misdirected;
    return;
  }
  send(reply_to, Ack{m.seq, self_, checksum_, {}});
  note_checksum(m.source, m.checksum, now);
}

void Membership::handle(const PingReq& m, const std::string& reply_to, Instant now) {
  apply_changes(m.changes, now);
  if (m.target == self_) {
    // Asked to probe ourselves: we are evidently alive, say so directly
    // (unless our name is another process's now).
    if (!displaced_) send(reply_to, Ack{m.seq, self_, checksum_, {}});
    return;
  }
  // Only members this node probes itself may be probed on request: a
  // ping-req naming any other address would make this node send pings
  // wherever a stranger asks (reflection).
  auto t = members_.find(m.target);
  if (t == members_.end() || !is_pingable(t->second.state.status)) {
    ++stats_.ping_reqs_ignored;
    // Nack at once: it says only that this helper is reachable, which is
    // what the requester's health score asks (Lifeguard). Without it, a
    // target this helper does not know (a member invented by a stranger
    // in the requester's table only) makes the requester count every
    // silent helper against itself and slow its protocol down.
    // No claims ride on it: a forged source gets no more bytes than it sent.
    if (m.want_nack) {
      ++stats_.nacks_sent;
      ++stats_.messages_out;
      datagrams_.push_back(OutDatagram{reply_to, Message(Nack{m.seq, self_, {}})});
    }
    return;
  }
  if (relays_.size() >= kRelaysMax) return;  // bounded; the requester times out
  const uint64_t seq = next_seq_++;
  // Nack at 80% of the ping timeout (memberlist's choice): the requester
  // sent the ping-req at its own ping timeout and decides at its period's
  // end, one ping timeout later; a nack must land before that to count.
  const Duration timeout = config_.ping_timeout * 4 / 5;
  relays_.emplace(seq, Relay{reply_to, m.target, m.seq, m.want_nack, false, now + timeout,
                             now + awareness_.scale(config_.protocol_period)});
  // Where this node knows the target, not where the requester says.
  send(address_of(t->second.state), Ping{seq, self_, m.target, checksum_, {}});
  note_checksum(m.source, m.checksum, now);
}

void Membership::handle(const Ack& m, const std::string& reply_to, Instant now) {
  (void)reply_to;
  apply_changes(m.changes, now);
  if (m.source == self_) {
    // The answer to our name check (its nonce): a live process holds our
    // name. Matched by nonce, not by address: the holder may answer from
    // another interface than the one it advertises.
    if (name_check_.active && m.seq == name_check_.seq) {
      finish_name_check(true, now);
    } else {
      ++stats_.acks_unexpected;
    }
    return;
  }
  if (probe_.active && m.seq == probe_.seq && m.source == probe_.target) {
    probe_.acked = true;
  } else if (auto it = relays_.find(m.seq); it != relays_.end() && it->second.target == m.source) {
    // An ack for a ping we sent on someone's behalf: relay it.
    send(it->second.requester, Ack{it->second.requester_seq, m.source, checksum_, {}});
    relays_.erase(it);
  } else {
    ++stats_.acks_unexpected;
  }
  note_checksum(m.source, m.checksum, now);
}

void Membership::handle(const Nack& m, const std::string& reply_to, Instant now) {
  (void)reply_to;
  apply_changes(m.changes, now);
  if (probe_.active && m.seq == probe_.seq) ++probe_.nacks;
}

}  // namespace shoal::membership
