// Copyright shoal authors. Claims about this node itself. Any claim that is
// wrong about us (not alive, or a higher incarnation) is refuted: alive at
// max(own, claimed) + 1, the accuser told first. Our name claimed at
// another address is a name conflict: ask there whether a live process
// holds it, yield if one answers, refute if none does (docs/PROTOCOL.md
// "Names"). A leaving node's leave stands; a displaced one never refutes.

#include <algorithm>
#include <string>

#include "shoal/membership/membership.h"

namespace shoal::membership {

void Membership::apply_self_claim(const Change& c, Instant now) {
  Member& self = members_.find(self_)->second;
  if (displaced_) {
    // Our name is another process's now: follow its state like any
    // member's, never refute.
    if (supersedes(c, self.state) && c.incarnation <= incarnation_horizon(now, true)) {
      const std::string at = address_of(c);
      set_state(self, c.status, c.incarnation, c.status == Status::kAlive ? &c.labels : nullptr,
                c.source, now, false, &at);
    }
    return;
  }
  if (leaving_) return;  // our leave claim stands
  if (address_of(c) != config_.address) {
    // Our name at another address: a newer process under our name, or a
    // forgery. Older news about a former holder changes nothing. Beyond
    // the horizon no honest node accepted it: nothing to check or refute.
    if (c.incarnation > incarnation_horizon(now, /*own_claim=*/true)) {
      ++stats_.changes_rejected;
      return;
    }
    if (supersedes(c, self.state)) check_name(c, now);
    return;
  }
  const Incarnation own = self.state.incarnation;
  if (c.status == Status::kAlive && c.incarnation <= own) return;  // old news
  // Beyond even what a member may claim about itself: no honest node
  // accepted it either (incarnation_ahead_max), so there is nothing to
  // refute, and refuting would climb towards the wrap.
  if (c.incarnation > incarnation_horizon(now, /*own_claim=*/true)) {
    ++stats_.changes_rejected;
    return;
  }
  // Anything else is wrong about us: refute with a fresh incarnation.
  awareness_.apply(1);  // being suspected hints that we are the slow one
  refute(std::max(own, c.incarnation), c.source, now);
}

void Membership::refute(Incarnation above, const std::string& accuser, Instant now) {
  Member& self = members_.find(self_)->second;
  ++stats_.refutations;
  // Never below our own incarnation (it may have risen since the claim).
  const Incarnation inc = std::max(above, self.state.incarnation) + 1;
  set_state(self, Status::kAlive, inc, nullptr, self_, now, false, &config_.address);
  enqueue(self_change());
  // Do not wait for the next period: the accuser's timer is running. Tell
  // it first, then a few others; the refutation leads every piggyback.
  if (auto it = members_.find(accuser);
      it != members_.end() && accuser != self_ && is_pingable(it->second.state.status)) {
    send(address_of(it->second.state), Gossip{self_, checksum_, {}});
  }
  for (const std::string& to :
       random_pingable(static_cast<size_t>(config_.gossip_fanout), accuser)) {
    ++stats_.gossips_sent;
    send(to, Gossip{self_, checksum_, {}});
  }
}

// Someone claims our name at another address, superseding us. A newer
// process that really holds the name answers a ping there (it acks pings
// addressed to its name); a forgery or a dead process does not. Ask up to
// kNameCheckAttempts times, one protocol period each: an answer makes us
// yield, silence makes us refute (docs/PROTOCOL.md "Names"). The ping's
// seq is a random nonce, so an answer cannot be guessed, and a claim
// arriving meanwhile only changes what is asked next: one ping per period
// at most, wherever claims point (no reflection), and the check ends
// after kNameCheckAttempts periods whatever arrives.
void Membership::check_name(const Change& c, Instant now) {
  if (name_check_.active) {
    const Change& known = name_check_.claim;
    const MemberState asked{known.name, known.status, known.incarnation, {}, address_of(known)};
    if (supersedes(c, asked)) name_check_.claim = c;
    return;
  }
  ++stats_.name_conflicts;
  if (conflict_) conflict_(NameConflict{self_, config_.address, address_of(c), true});
  name_check_.active = true;
  name_check_.claim = c;
  name_check_.attempts = 0;
  send_name_check(now);
}

void Membership::send_name_check(Instant now) {
  ++name_check_.attempts;
  name_check_.seq = rng_.next();
  name_check_.deadline = now + awareness_.scale(config_.protocol_period);
  send(address_of(name_check_.claim), Ping{name_check_.seq, self_, self_, checksum_, {}});
}

void Membership::finish_name_check(bool answered, Instant now) {
  const Change claim = name_check_.claim;
  name_check_ = NameCheck{};
  if (leaving_) return;  // our leave claim stands
  if (!answered) {
    // Nobody there holds our name: we do, at a higher incarnation.
    refute(claim.incarnation, claim.source, now);
    return;
  }
  // A live process holds our name. If we have since risen above its claim
  // (a refutation meanwhile), we outrank it everywhere and it will stand
  // down; otherwise the whole cluster takes it (the same order
  // everywhere), so do we, and stop.
  Member& self = members_.find(self_)->second;
  if (!supersedes(claim, self.state)) return;
  displaced_ = true;
  displaced_by_ = address_of(claim);
  probe_.active = false;
  next_join_ = kNever;
  set_state(self, claim.status, claim.incarnation,
            claim.status == Status::kAlive ? &claim.labels : nullptr, claim.source, now, false,
            &displaced_by_);
}

}  // namespace shoal::membership
