// Copyright shoal authors. See membership.h for the contract.

#include "shoal/membership/membership.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include "shoal/membership/address.h"
#include "shoal/membership/assert.h"

namespace shoal::membership {

namespace {

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t hash_string(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then mixed
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return mix64(h);
}

int ceil_log2(size_t n) {
  int bits = 0;
  while ((size_t{1} << bits) < n) ++bits;
  return bits;
}

}  // namespace

std::string Config::validate() const {
  auto ms = [](Duration d) {
    return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) + "ms";
  };
  if (address.empty()) return "address: must not be empty";
  // The address's form is the driver's business (the core never parses
  // it); a name given apart from it must be one the codec lets through.
  if (std::string why = name.empty() ? "" : check_member_name(name); !why.empty()) {
    return "name: " + why + " (\"" + name + "\")";
  }
  if (!name.empty() && name != address && check_member_address(name).empty()) {
    return "name: \"" + name + "\" is an address but not this node's (" + address + ")";
  }
  if (cluster.empty() || cluster.size() > 255) return "cluster: must be 1..255 bytes";
  if (protocol_period < milliseconds(50)) {
    return "protocol_period: " + ms(protocol_period) + " is below the 50ms minimum";
  }
  if (ping_timeout <= Duration::zero() || ping_timeout >= protocol_period) {
    return "ping_timeout: " + ms(ping_timeout) + " must be > 0 and below protocol_period (" +
           ms(protocol_period) + ")";
  }
  if (ping_req_fanout < 0 || ping_req_fanout > 16) return "ping_req_fanout: must be 0..16";
  if (probe_strikes < 1 || probe_strikes > 8) return "probe_strikes: must be 1..8";
  if (suspicion_min <= Duration::zero()) return "suspicion_min: must be > 0";
  if (suspicion_max < suspicion_min) {
    return "suspicion_max: " + ms(suspicion_max) + " is below suspicion_min (" + ms(suspicion_min) +
           ")";
  }
  if (suspicion_confirmations < 0 || suspicion_confirmations > 64) {
    return "suspicion_confirmations: must be 0..64";
  }
  if (awareness_max < 1 || awareness_max > 64) return "awareness_max: must be 1..64";
  if (lag_tolerance < Duration::zero()) return "lag_tolerance: must be >= 0";
  if (faulty_timeout <= Duration::zero()) return "faulty_timeout: must be > 0";
  if (tombstone_timeout <= Duration::zero()) return "tombstone_timeout: must be > 0";
  if (retransmit_mult < 1 || retransmit_mult > 64) return "retransmit_mult: must be 1..64";
  if (datagram_budget < 512 || datagram_budget > 65000) {
    return "datagram_budget: must be 512..65000 bytes";
  }
  if (gossip_fanout < 0 || gossip_fanout > 16) return "gossip_fanout: must be 0..16";
  if (changes_per_message_max < 1) return "changes_per_message_max: must be >= 1";
  if (sync_mismatches_trigger < 1) return "sync_mismatches_trigger: must be >= 1";
  if (sync_mismatch_min < Duration::zero()) return "sync_mismatch_min: must be >= 0";
  if (join_fanout < 1 || join_fanout > 16) return "join_fanout: must be 1..16";
  if (join_backoff_min <= Duration::zero() || join_backoff_max < join_backoff_min) {
    return "join_backoff_min/max: need 0 < min <= max";
  }
  if (tcp_timeout <= Duration::zero()) return "tcp_timeout: must be > 0";
  if (heal_interval <= Duration::zero()) return "heal_interval: must be > 0";
  if (heal_fanout < 0) return "heal_fanout: must be >= 0";
  if (incarnation > kIncarnationStartMax) return "incarnation: must be at most 2^60";
  if (std::string problem = check_labels(labels); !problem.empty()) return problem;
  const Change self{identity(), Status::kAlive, UINT64_MAX, labels,
                    identity(), UINT64_MAX,     address};
  if (encoded_change_size(self) > Membership::change_bytes_max(*this)) {
    return "labels: this member's claim (" + std::to_string(encoded_change_size(self)) +
           " bytes) does not fit datagram_budget with room for a ping";
  }
  if (incarnation_ahead_max < Duration::zero() ||
      incarnation_ahead_max > std::chrono::hours(24 * 3650)) {
    return "incarnation_ahead_max: must be 0..10 years";
  }
  return "";
}

Duration suspicion_timeout(int confirmations, int expected, Duration min, Duration max) {
  if (expected <= 0 || confirmations >= expected) return min;
  const double frac = std::log(static_cast<double>(std::max(0, confirmations)) + 1.0) /
                      std::log(static_cast<double>(expected) + 1.0);
  const auto span = static_cast<double>((max - min).count());
  Duration t = max - Duration(static_cast<int64_t>(frac * span));
  t = std::chrono::floor<milliseconds>(t);
  return std::max(t, min);
}

// ------------------------------------------------------------ lifecycle

Membership::Membership(Config config, uint64_t seed, Instant now)
    : config_(std::move(config)),
      self_(config_.identity()),
      rng_(seed),
      awareness_(config_.awareness_max),
      queue_(change_bytes_max(config_)),
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
}

Incarnation Membership::incarnation() const {
  return members_.find(self_)->second.state.incarnation;
}

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

// ------------------------------------------------------ the member table

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

void Membership::emit(const Member& m, std::optional<Status> old, const std::string& source,
                      bool forgotten) {
  events_.push_back(MemberEvent{m.state.name, old, m.state.status, m.state.incarnation, source,
                                forgotten, m.state.labels, address_of(m.state)});
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
  if (address != nullptr) m.state.address = *address;
  checksum_ += member_hash(m.state);

  const bool self = m.state.name == self_;
  if (is_pingable(status) && !was_pingable) {
    ++pingable_count_;
    if (!self) {
      insert_probe_target(m.state.name);
      m.peer_index = peers_.size();
      peers_.push_back(&m);
    }
  } else if (!is_pingable(status) && was_pingable) {
    --pingable_count_;
    if (!self) remove_peer(m);
  }

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

Duration Membership::suspicion_timeout_for(int confirmations) const {
  // Past 100 members both bounds grow with log10(N) / 2 (see config.h);
  // an unhealthy node (high score) is slower to condemn (Lifeguard).
  const auto scaled = [n = pingable_count_](Duration d) -> Duration {
    if (n <= 100) return d;
    const double f = std::log10(static_cast<double>(n)) / 2.0;
    return std::chrono::floor<milliseconds>(
        Duration(static_cast<Duration::rep>(static_cast<double>(d.count()) * f)));
  };
  return awareness_.scale(suspicion_timeout(confirmations, expected_confirmations(),
                                            scaled(config_.suspicion_min),
                                            scaled(config_.suspicion_max)));
}

int Membership::expected_confirmations() const {
  // Only members other than the suspect and the first accuser can confirm:
  // in a cluster of 3, at most one. Expecting more than can come would keep
  // every suspicion at the maximum (memberlist makes the same cut).
  const int others = static_cast<int>(pingable_count_) - 2;
  return std::max(0, std::min(config_.suspicion_confirmations, others));
}

void Membership::confirm_suspicion(Member& m, const std::string& source, Instant now) {
  if (std::find(m.suspecters.begin(), m.suspecters.end(), source) != m.suspecters.end()) return;
  if (m.suspecters.size() > static_cast<size_t>(config_.suspicion_confirmations)) return;
  m.suspecters.push_back(source);
  ++stats_.confirmations;
  const int confirmations = static_cast<int>(m.suspecters.size()) - 1;
  const Instant deadline = m.suspect_start + suspicion_timeout_for(confirmations);
  // A confirmation only ever brings the verdict closer.
  set_deadline(m, std::min(m.deadline, std::max(deadline, now)));
  // Re-gossip the confirmation so that others count it too.
  enqueue(change_of(m, source));
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
    if (members_.size() >= kMembersMax && !(own_claim && evict_one(now))) {
      ++stats_.changes_dropped;
      return false;
    }
    Member m;
    m.state = {c.name, c.status, c.incarnation, c.labels, address_of(c)};
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

std::optional<MemberState> Membership::member(std::string_view name) const {
  auto it = members_.find(name);
  if (it == members_.end()) return std::nullopt;
  return it->second.state;
}

const std::string* Membership::address_of_member(std::string_view name) const {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second.state.address;
}

// -------------------------------------------------------------- probing

void Membership::insert_probe_target(const std::string& address) {
  // A random position among the members not yet probed this round, so a
  // newcomer is probed within one round and joins do not bunch up.
  const size_t remaining = probe_order_.size() - std::min(probe_index_, probe_order_.size());
  const size_t pos = probe_index_ + rng_.below(remaining + 1);
  probe_order_.insert(probe_order_.begin() + static_cast<std::ptrdiff_t>(pos), address);
}

std::optional<std::string> Membership::next_probe_target() {
  // Bounded: at most one pass over the current order plus one rebuild.
  for (int pass = 0; pass < 2; ++pass) {
    while (probe_index_ < probe_order_.size()) {
      const std::string& candidate = probe_order_[probe_index_++];
      auto it = members_.find(candidate);
      if (it != members_.end() && candidate != self_ && is_pingable(it->second.state.status)) {
        return candidate;
      }
    }
    probe_order_.clear();
    probe_index_ = 0;
    for (const Member* m : peers_) probe_order_.push_back(m->state.name);
    // Sorted first: peers_ order depends on history, the shuffle on the seed.
    std::sort(probe_order_.begin(), probe_order_.end());
    rng_.shuffle(probe_order_.begin(), probe_order_.end());
  }
  return std::nullopt;
}

void Membership::remove_peer(Member& m) {
  // Swap-remove: O(1); peers_ order is a deterministic function of the
  // sequence of changes, so random draws from it stay reproducible.
  const size_t i = m.peer_index;
  SHOAL_ASSERT(i < peers_.size() && peers_[i] == &m);
  peers_[i] = peers_.back();
  peers_[i]->peer_index = i;
  peers_.pop_back();
  m.peer_index = kNoPeer;
}

std::vector<std::string> Membership::random_pingable(size_t count, std::string_view exclude) {
  // Partial Fisher-Yates over indices: `count` distinct peers in O(count).
  std::vector<std::string> out;
  const size_t n = peers_.size();
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
    const MemberState& peer = peers_[pick]->state;
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
  Member& m = it->second;
  apply(Change{m.state.name,
               Status::kSuspect,
               m.state.incarnation,
               {},
               self_,
               incarnation(),
               m.state.address},
        now);
}

void Membership::start_period(Instant now) {
  finish_probe(now);
  next_period_ = now + awareness_.scale(config_.protocol_period);

  // A leaving node stops probing but keeps gossiping its leave; a displaced
  // one takes no part at all.
  if (displaced_) return;
  if (!leaving_) start_probe(now);

  // Gossip fan-out while there is news.
  if (!queue_.empty() && config_.gossip_fanout > 0) {
    for (const std::string& to : random_pingable(static_cast<size_t>(config_.gossip_fanout),
                                                 probe_.active ? probe_.target : "")) {
      ++stats_.gossips_sent;
      send(to, Gossip{self_, checksum_, {}});
      if (queue_.empty()) break;
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

// ------------------------------------------------------------- messages

int Membership::retransmit_limit() const {
  return config_.retransmit_mult * std::max(1, ceil_log2(pingable_count_ + 1));
}

void Membership::piggyback(std::vector<Change>& changes, size_t base_size, std::string_view first) {
  // base_size was measured without changes: the body's length prefix grows
  // by up to 2 bytes (a varint) once changes are in; keep that slack.
  constexpr size_t kLengthSlack = 2;
  size_t used = base_size + kLengthSlack;
  for (const Change& c : changes) used += encoded_change_size(c);
  if (used >= config_.datagram_budget) return;
  const size_t count_max = config_.changes_per_message_max;
  if (changes.size() >= count_max) return;
  queue_.fill(changes, config_.datagram_budget - used, count_max, retransmit_limit(), first);
}

template <class M>
void Membership::send(const std::string& to, M msg) {
  // The envelope without changes, then as many changes as fit.
  std::vector<Change> preset = std::move(msg.changes);
  msg.changes.clear();
  const size_t base = encoded_envelope_size(Message(msg), config_.cluster.size());
  msg.changes = std::move(preset);
  piggyback(msg.changes, base);
  ++stats_.messages_out;
  datagrams_.push_back(OutDatagram{to, Message(std::move(msg))});
}

void Membership::enqueue(Change c) {
  if (!queue_.enqueue(std::move(c))) ++stats_.changes_dropped;
}

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
                 SyncRequest{self_, checksum_, member_states()}, now);
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
  sender_.clear();
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

void Membership::handle(const Gossip& m, const std::string& reply_to, Instant now) {
  (void)reply_to;
  apply_changes(m.changes, now);
  note_checksum(m.source, m.checksum, now);
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
  (void)from;
  if (const auto* join = std::get_if<JoinRequest>(&req)) {
    const Change claim{join->source, Status::kAlive,    join->incarnation, join->labels,
                       join->source, join->incarnation, join->address};
    // Our own name from elsewhere is a claim on it (apply checks it).
    if (!join->source.empty() && !leaving_ &&
        (join->source != self_ || address_of(claim) != config_.address)) {
      apply(claim, now);
    }
    return JoinResponse{self_, checksum_, member_states()};
  }
  if (const auto* ping = std::get_if<Ping>(&req)) {
    // The fallback probe: says only that this node is up. An Ack whose
    // source is not the ping's target is ignored by the prober, as over UDP
    // (a displaced node answers under its address: not the name it lost).
    return Ack{ping->seq, displaced_ ? config_.address : self_, checksum_, {}};
  }
  const auto& sync = std::get<SyncRequest>(req);
  ++stats_.syncs_received;
  if (sync.source != self_) merge_members(sync.members, sync.source, now, MergeKind::kSync);
  return SyncResponse{self_, checksum_, member_states()};
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
    if (ex.kind == ExchangeKind::kJoin) {
      joined_ = true;
      join_backoff_ = config_.join_backoff_min;
      finish_join_round(now);
    }
  } else if (const auto* sync = std::get_if<SyncResponse>(&resp)) {
    merge_members(sync->members, sync->responder, now, MergeKind::kSync);
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

JoinRequest Membership::join_request() const {
  const MemberState& s = members_.find(self_)->second.state;
  return JoinRequest{self_, s.incarnation, s.labels, s.address};
}

void Membership::finish_join_round(Instant now) {
  if (--join_round_pending_ > 0) return;
  join_round_pending_ = 0;
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

// ---------------------------------------------------------------- time

Instant Membership::next_deadline() const {
  Instant t = std::min(next_period_, next_join_);
  t = std::min(t, next_heal_);
  if (probe_.active && !probe_.acked && !probe_.indirect_sent) t = std::min(t, probe_.ack_deadline);
  if (!timers_.empty()) t = std::min(t, timers_.begin()->first);
  if (name_check_.active) t = std::min(t, name_check_.deadline);
  for (const auto& [seq, r] : relays_) t = std::min(t, r.nack_sent ? r.expires : r.nack_deadline);
  for (const auto& [id, ex] : pending_exchanges_) t = std::min(t, ex.deadline);
  return t;
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
        apply(Change{name,
                     Status::kFaulty,
                     m.state.incarnation,
                     {},
                     self_,
                     incarnation(),
                     m.state.address},
              now);
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
  if (lag_points > 0) {
    ++stats_.late_ticks;
    awareness_.apply(static_cast<int>(lag_points));
  }
}

}  // namespace shoal::membership
