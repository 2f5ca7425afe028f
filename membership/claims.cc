// Copyright shoal authors. Claims and the member table. apply() takes a
// claim about another member by precedence at its known address and by
// supersedes() across addresses, within the incarnation horizon; the table
// is bounded (hearsay, introductions per sender, eviction for joiners);
// set_state() is the one place a member's state changes (checksum, peer
// list, timers, event); forget() removes a member; merge_members() takes
// whole tables from joins, syncs and heals.
//
// Contract: nodes that apply the same claims, in any order, end with the
// same table (supersedes() is a total order); a stale claim changes nothing
// and is not re-gossiped.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shoal/membership/assert.h"
#include "shoal/membership/hash.h"
#include "shoal/membership/membership.h"

namespace shoal::membership {

uint64_t Membership::member_hash(const MemberState& s) {
  if (s.status == Status::kTombstone) return 0;
  // A named member's address counts too; a default name is its address.
  const std::string& at = address_of(s);
  const uint64_t where = at == s.name ? 0 : mix64(hash_string(at) + 1);
  return mix64(hash_string(s.name) ^ mix64(s.incarnation) ^
               (static_cast<uint64_t>(s.status) << 56) ^ where);
}

Change Membership::self_change() const {
  const MemberState& s = members_.find(self_)->second.state;
  return Change{s.name, s.status, s.incarnation, s.labels, s.name, s.incarnation, s.address};
}

Change Membership::change_of(const Member& m, const std::string& source) const {
  return Change{m.state.name, m.state.status, m.state.incarnation, m.state.labels,
                source,       incarnation(),  m.state.address};
}

Change Membership::accusation(const Member& m, Status status) const {
  return Change{m.state.name, status,        m.state.incarnation, {},
                self_,        incarnation(), m.state.address};
}

void Membership::set_deadline(Member& m, Instant deadline) {
  if (m.deadline != kNever) timers_.erase({m.deadline, m.state.name});
  m.deadline = deadline;
  if (deadline != kNever) timers_.insert({deadline, m.state.name});
}

void Membership::set_state(Member& m, Status status, Incarnation inc, const Labels* labels,
                           const std::string& source, Instant now, bool is_new,
                           const std::string* address) {
  const Status old = m.state.status;
  const bool was_pingable = !is_new && is_pingable(old);
  if (m.hearsay && status == Status::kAlive) {
    m.hearsay = false;
    --hearsay_;
  }
  if (!is_new) checksum_ -= member_hash(m.state);
  m.state.status = status;
  m.state.incarnation = inc;
  if (labels != nullptr) m.state.labels = *labels;
  if (address != nullptr) {
    m.state.address = *address;
    m.heard = false;  // at a new address: not heard there yet
  }
  checksum_ += member_hash(m.state);

  const bool self = m.state.name == self_;
  if (is_pingable(status) && !was_pingable) {
    ++pingable_count_;
    if (!self) {
      insert_probe_target(m);
      list_add(peers_, &Member::peer_index, m);
    }
  } else if (!is_pingable(status) && was_pingable) {
    --pingable_count_;
    if (!self) remove_peer(m);
  }
  update_heard_peer(m);

  if (status != Status::kSuspect) m.suspecters.clear();
  if (self) {
    set_deadline(m, kNever);
  } else {
    switch (status) {
      case Status::kAlive:
        set_deadline(m, kNever);
        break;
      case Status::kSuspect:
        m.suspect_start = now;
        m.suspecters.assign(1, source);
        set_deadline(m, now + suspicion_timeout_for(0));
        if (source == self_) ++stats_.suspicions;
        break;
      case Status::kFaulty:
      case Status::kLeave:
        if (is_new || (old != Status::kFaulty && old != Status::kLeave)) {
          set_deadline(m, now + config_.faulty_timeout);
        }
        break;
      case Status::kTombstone:
        set_deadline(m, now + config_.tombstone_timeout);
        break;
    }
  }
  emit(m, is_new ? std::nullopt : std::optional<Status>(old), source);
}

Incarnation Membership::incarnation_horizon(Instant now, bool own_claim) const {
  // This node's clock now, in the milliseconds incarnations start from.
  const auto ms = [](Duration d) {
    return static_cast<Incarnation>(
        std::max<int64_t>(0, std::chrono::duration_cast<milliseconds>(d).count()));
  };
  Incarnation h = config_.incarnation + ms(now - started_) + ms(config_.incarnation_ahead_max);
  if (own_claim) h += ms(kRefutationHeadroom);
  return h;
}

bool Membership::supersedes(const Change& c, const MemberState& s) {
  const std::string& at = address_of(c);
  const std::string& known = address_of(s);
  if (at == known) return overrides(c.incarnation, c.status, s.incarnation, s.status);
  if (c.incarnation != s.incarnation) return c.incarnation > s.incarnation;
  return at < known;
}

bool Membership::apply(const Change& c, Instant now, bool regossip) {
  if (c.name.empty()) return false;
  if (c.name == self_) {
    apply_self_claim(c, now);
    return false;
  }
  auto it = members_.find(c.name);
  // Raising a member's incarnation is bounded by this node's clock (config.h,
  // incarnation_ahead_max); a member's own alive claims (refutations,
  // restarts, joins) get the refutation headroom on top.
  const Incarnation known = it == members_.end() ? 0 : it->second.state.incarnation;
  const bool own_claim = c.source == c.name && c.status == Status::kAlive;
  if (c.incarnation > known && c.incarnation > incarnation_horizon(now, own_claim)) {
    ++stats_.changes_rejected;
    return false;
  }
  if (it == members_.end()) {
    // Nothing to forget about a member we never knew.
    if (c.status == Status::kTombstone) return false;
    const bool hearsay = c.status != Status::kAlive;
    if (hearsay && hearsay_ >= kHearsayMax) {
      ++stats_.hearsay_dropped;
      return false;
    }
    // A member speaking for itself is no introduction.
    if (!sender_.empty() && !(own_claim && address_of(c) == sender_) && !may_introduce(now)) {
      ++stats_.introductions_throttled;
      return false;
    }
    Member m;
    m.state = {c.name, c.status, c.incarnation, c.labels, address_of(c)};
    if (admit_ && !admit_(m.state).empty()) {
      ++stats_.members_vetoed;
      return false;
    }
    if (members_.size() >= kMembersMax && !(own_claim && evict_one(now))) {
      ++stats_.changes_dropped;
      return false;
    }
    m.hearsay = hearsay;
    hearsay_ += hearsay ? 1 : 0;
    it = members_.emplace(c.name, std::move(m)).first;
    set_state(it->second, c.status, c.incarnation, nullptr, c.source, now, true);
    ++stats_.changes_applied;
    if (regossip) enqueue(c);
    return true;
  }
  Member& m = it->second;
  // At another address than the one known, the name moves: the member
  // restarted elsewhere, or two processes claim one name. supersedes() is
  // the same total order on every node (at the known address, precedence).
  const bool moved = address_of(c) != address_of(m.state);
  if (supersedes(c, m.state)) {
    if (moved) ++stats_.members_moved;
    if (moved && conflict_ && is_pingable(m.state.status)) {
      conflict_(NameConflict{c.name, address_of(m.state), address_of(c), false});
    }
    const Labels* labels = c.status == Status::kAlive || !c.labels.empty() ? &c.labels : nullptr;
    set_state(m, c.status, c.incarnation, labels, c.source, now, false,
              moved ? &address_of(c) : nullptr);
    ++stats_.changes_applied;
    if (regossip) enqueue(c);
    return true;
  }
  if (!moved && c.status == Status::kSuspect && m.state.status == Status::kSuspect &&
      c.incarnation == m.state.incarnation) {
    confirm_suspicion(m, c.source, now);
    return false;
  }
  ++stats_.changes_stale;
  return false;
}

// One more member introduced by sender_ this second, if within its budget.
bool Membership::may_introduce(Instant now) {
  auto it = introduced_.find(sender_);
  if (it == introduced_.end()) {
    if (introduced_.size() >= kSendersTracked) introduced_.clear();
    it = introduced_.emplace(sender_, Introduced{now, 0}).first;
  }
  Introduced& in = it->second;
  if (now - in.window >= std::chrono::seconds(1)) in = {now, 0};
  if (in.count >= kNewPerSenderPerSecond) return false;
  ++in.count;
  return true;
}

// Removes a member that is not pingable (faulty, left, tombstone): its
// forgotten event, the checksum, the queue.
void Membership::forget(const std::string& address) {
  auto it = members_.find(address);
  if (it == members_.end()) return;
  Member& m = it->second;
  SHOAL_ASSERT(!is_pingable(m.state.status) && m.state.name != self_);
  set_deadline(m, kNever);  // its timer goes with it
  emit(m, m.state.status, self_, true);
  checksum_ -= member_hash(m.state);
  if (m.hearsay) --hearsay_;
  queue_.remove(address);
  members_.erase(it);
}

// The table is full and a member claims itself alive: forget one
// non-pingable member (hearsay first) to make room. O(members), only when
// the table is full.
bool Membership::evict_one(Instant now) {
  (void)now;
  const std::string* victim = nullptr;
  for (const auto& [address, m] : members_) {
    if (is_pingable(m.state.status) || address == self_) continue;
    victim = &address;
    if (m.hearsay) break;
  }
  if (victim == nullptr) return false;
  ++stats_.members_evicted;
  forget(std::string(*victim));
  return true;
}

void Membership::merge_members(const std::vector<MemberState>& states, const std::string& source,
                               Instant now, MergeKind kind) {
  const bool heal = kind == MergeKind::kHeal;
  // A joiner learns what its seed has long gossiped, a sync what its peer
  // has: re-gossiping whole tables would flood the queues (N joins x N
  // members at a cold start). Anti-entropy repairs what gossip missed. A
  // heal's differences come from the other side of a partition and are
  // news to this whole side: pass them on.
  const bool regossip = kind == MergeKind::kHeal;
  size_t applied = 0;
  for (const MemberState& s : states) {
    if (++applied > kMembersMax) break;
    if (heal && s.name != self_ && is_pingable(s.status)) {
      // Partition healing (Ringpop's reincarnation): the other side has
      // this member alive, we have it faulty at an equal or higher
      // incarnation. Precedence would keep it dead forever, so suspect it
      // locally and probe it: if it is alive it hears the suspicion and
      // refutes with a higher incarnation, which then wins on both sides.
      auto it = members_.find(s.name);
      if (it != members_.end() && it->second.state.status == Status::kFaulty &&
          it->second.state.incarnation >= s.incarnation &&
          address_of(it->second.state) == address_of(s)) {
        Member& m = it->second;
        ++stats_.reincarnations;
        set_state(m, Status::kSuspect, m.state.incarnation, nullptr, self_, now, false);
        enqueue(change_of(m, self_));
        continue;
      }
    }
    apply(Change{s.name, s.status, s.incarnation, s.labels, source, 0, s.address}, now, regossip);
  }
}

std::vector<MemberState> Membership::member_states() const {
  std::vector<MemberState> out;
  out.reserve(members_.size());
  for (const auto& [address, m] : members_) out.push_back(m.state);
  return out;
}

std::vector<MemberState> Membership::members() const { return member_states(); }

void Membership::for_each_member(const std::function<void(const MemberState&)>& visit) const {
  for (const auto& [name, m] : members_) visit(m.state);
}

std::optional<MemberState> Membership::member(std::string_view name) const {
  const MemberState* s = find_member(name);
  if (s == nullptr) return std::nullopt;
  return *s;
}

const MemberState* Membership::find_member(std::string_view name) const {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second.state;
}

const std::string* Membership::address_of_member(std::string_view name) const {
  const MemberState* s = find_member(name);
  return s == nullptr ? nullptr : &s->address;
}

}  // namespace shoal::membership
