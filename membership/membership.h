// Copyright shoal authors. The SWIM + Lifeguard membership protocol as a
// deterministic state machine.
//
// The core knows nothing about sockets or clocks. A driver (node/ on Asio,
// tests/sim in virtual time) feeds it:
//
//   on_message(from, msg, now)        a decoded datagram
//   on_tcp_request(from, req, now)    a join/sync request; returns the answer
//   on_tcp_response(id, resp, now)    the answer to an exchange it started
//   on_tcp_failure(id, now)           that exchange failed
//   tick(now)                         time passed; call at next_deadline()
//
// and after each call drains the outputs: datagrams to send, TCP exchanges
// to start, member events. Given the same seed and the same inputs at the
// same times, a Membership produces the same outputs: no clock, no global
// RNG, no unordered iteration reaches a decision.
//
// One probe per protocol period (all durations stretched by the Lifeguard
// health score):
//
//   t0 ----- ping target -----> ack?  yes: done, score -1
//   t0 + ping_timeout: no ack -> ping-req to k helpers (want nack)
//                                helpers ping target, relay ack or nack
//   t0 + period: no ack at all -> target suspect; score + missed nacks
//                (or +1 without helpers); next probe starts
//
// Suspect -> faulty after suspicion_timeout(confirmations) unless refuted;
// faulty/leave -> tombstone after faulty_timeout; tombstone forgotten after
// tombstone_timeout. The member table includes this node itself.
//
// Thread safety: none; one thread (the node's io thread) owns it.
//
// One class, defined in one file per mechanism (each opens with its
// contract):
//
//   membership.cc  construction, public calls, messages in and out
//                  (dispatch, piggybacking), events, tick/next_deadline
//   claims.cc      applying claims (precedence, supersedes, the
//                  incarnation horizon), set_state, the member table and
//                  its bounds, forgetting, merging tables
//   names.cc       claims about this node: refutation, name conflicts
//   probing.cc     probe periods, ping, ping-req, ack, nack, the TCP
//                  fallback ping, the peer list and probe order
//   sync.cc        join, heal, full sync (checksum anti-entropy), TCP
//                  exchanges
//   lifeguard.cc   suspicion timeouts and confirmations (and lifeguard.h's
//                  suspicion_timeout)
//   app.cc         app gossip's calls and messages (the mechanism itself
//                  is a class of its own: app_gossip.h)
//   config.cc      Config::validate (config.h)

#ifndef SHOAL_MEMBERSHIP_MEMBERSHIP_H_
#define SHOAL_MEMBERSHIP_MEMBERSHIP_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shoal/membership/app_gossip.h"
#include "shoal/membership/config.h"
#include "shoal/membership/dissemination.h"
#include "shoal/membership/indexed_map.h"
#include "shoal/membership/lifeguard.h"
#include "shoal/membership/messages.h"
#include "shoal/membership/rng.h"
#include "shoal/membership/stats.h"
#include "shoal/membership/types.h"

namespace shoal::membership {

struct OutDatagram {
  std::string to;
  Message message;
};

struct OutExchange {
  uint64_t id = 0;
  std::string to;
  TcpRequest request;
};

// memberlist's AliveDelegate: "" admits a member this node does not know
// yet, else why not (the member is then never added here).
using Admission = std::function<std::string(const MemberState& member)>;

// memberlist's ConflictDelegate: the name of a member that is alive or
// suspect here claimed at another address, by a newer claim (`self`: this
// node's own name; it then checks whether a live process holds it there,
// docs/PROTOCOL.md "Names"). The newer claim wins everywhere; this says
// that it happened.
struct NameConflict {
  std::string name;
  std::string known_address;
  std::string other_address;
  bool self = false;
};
using ConflictCallback = std::function<void(const NameConflict& conflict)>;

// memberlist's LocalState / MergeRemoteState: the app's state, sent with
// every join and full sync both ways, and merged by the receiver. `join`:
// the exchange is a join (not a periodic or triggered sync).
struct AppState {
  std::function<std::string(bool join)> local;
  std::function<void(const std::string& state, bool join)> merge;
};

class Membership {
 public:
  // Hard bounds on state sizes (operating errors beyond them are counted).
  static constexpr size_t kMembersMax = 1 << 16;
  // Entries created by a suspect, faulty or leave claim about a member this
  // node never knew (hearsay: nobody here saw it alive) are bounded apart
  // from the rest, so forged claims about strangers cannot crowd out real
  // members. When the table is full, a member's own alive claim (a joiner)
  // evicts a non-alive entry: a real joiner always gets in.
  static constexpr size_t kHearsayMax = 4096;
  // Members one datagram sender (transport address) may introduce per
  // second: a forged flood of strangers fills the table this slowly at
  // most, while a real cluster never comes near it (a sender can only
  // introduce members this node does not know yet, fewer than the cluster
  // size; joins and full syncs this node asked for are not counted).
  static constexpr uint32_t kNewPerSenderPerSecond = 1024;
  static constexpr size_t kSendersTracked = 4096;
  static constexpr size_t kRelaysMax = 256;
  static constexpr size_t kSeedsMax = 1024;

  // The most bytes one change may take: what the largest message without
  // changes leaves of the datagram budget. Bigger changes are never queued.
  static size_t change_bytes_max(const Config& config);

  // `config` must be valid (Config::validate() == ""). `seed` drives every
  // random choice. The node starts alone and alive at `now`.
  Membership(Config config, uint64_t seed, Instant now);

  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Join the cluster through `seeds` ("host:port"; this node's own address
  // and duplicates are skipped). Retries with capped backoff while alone,
  // forever. No seeds: a cluster of one, which others may join.
  void join(const std::vector<std::string>& seeds, Instant now);
  // Replaces the seeds the next join or heal attempts use (same rules as
  // join()), without starting an attempt: the driver's fresh resolution of
  // seeds given by DNS name. No effect on a node joined without seeds.
  void set_seeds(const std::vector<std::string>& seeds);
  const std::vector<std::string>& seeds() const { return seeds_; }
  // Gossip `leave` and stop probing. The driver stops the node once
  // leave_disseminated() or after a bound of its own.
  void leave(Instant now);
  // serf's force-leave: the member named `name`, suspect or faulty (dead,
  // but its timers still run), is marked `leave` at once and the claim is
  // gossiped, so every node drops it from its ring and stops probing it
  // now rather than after its suspicion runs out. The claim keeps the
  // member's incarnation: a member that is in fact alive refutes it with
  // a higher one, as any false suspicion. "" on success (also for a member
  // that has left already), else why not: unknown, this node, alive.
  std::string force_leave(const std::string& name, Instant now);
  // Replaces this node's labels and gossips them with a new incarnation
  // (memberlist's UpdateNode). "" on success, else why not: over
  // kLabelsBytesMax, or leaving.
  std::string set_labels(Labels labels, Instant now);

  // Admission (memberlist's AliveDelegate): `admit` is asked about every
  // member before this node adds it (from gossip, a join, a sync); a
  // member it refuses is not added, so this node neither probes nor
  // gossips it, and is counted (members_vetoed). Members already known
  // are not asked again. Empty: every member is admitted.
  void set_admission(Admission admit) { admit_ = std::move(admit); }
  // The app's state in push-pull (AppState). A state over kAppStateMax is
  // not sent (an empty one goes) and a peer's is not merged; both counted
  // (app_state_refused).
  static constexpr size_t kAppStateMax = 64 * 1024;
  void set_app_state(AppState state) { app_state_ = std::move(state); }
  // Told of every name conflict (NameConflict); empty: nobody is.
  void set_conflict_callback(ConflictCallback cb) { conflict_ = std::move(cb); }

  // ---- app gossip (app_gossip.h; app.cc) ----
  // memberlist's user broadcast: every other member delivers the newest
  // `payload` of (this node, `name`) once. "" or why not (a bad name, a
  // payload too big for a datagram).
  std::string broadcast(std::string name, std::string payload);
  // serf's user event, delivered once by every member, this one too.
  std::string event(std::string name, std::string payload, bool coalesce, Instant now);
  // serf's query: every member that matches `spec` delivers it (this one
  // too) and may answer once (answer_query) before the timeout (spec's, or
  // default_query_timeout()). Sets `id`; answers and the end come out of
  // take_app().
  std::string query(QuerySpec spec, Instant now, uint64_t& id);
  std::string answer_query(uint64_t id, std::string payload, Instant now);
  // serf's: gossip interval x 16 x ceil(log10(N + 1)), N the pingable
  // members; one protocol period stands for the gossip interval.
  Duration default_query_timeout() const;
  std::vector<AppOutput> take_app() { return app_.take_outputs(); }
  size_t pending_app() const { return app_.size(); }

  void on_message(std::string_view from, const Message& msg, Instant now);
  TcpResponse on_tcp_request(std::string_view from, const TcpRequest& req, Instant now);
  void on_tcp_response(uint64_t id, const TcpResponse& resp, Instant now);
  void on_tcp_failure(uint64_t id, Instant now);
  void tick(Instant now);
  // The earliest time tick() has something to do.
  Instant next_deadline() const;

  std::vector<OutDatagram> take_datagrams() { return std::exchange(datagrams_, {}); }
  std::vector<OutExchange> take_exchanges() { return std::exchange(exchanges_out_, {}); }
  std::vector<MemberEvent> take_events() { return std::exchange(events_, {}); }

  const std::string& address() const { return config_.address; }
  // This node's identity: Config::name, or its address if that is "".
  const std::string& name() const { return self_; }
  // Another live process holds this node's name (a name conflict that this
  // node lost: docs/PROTOCOL.md "Names"). The node then takes no further
  // part: it stops probing, gossiping and joining, and its table keeps
  // the winner under its name. Permanent; restart it under another name.
  bool displaced() const { return displaced_; }
  // The address of the process that holds this node's name, once displaced.
  const std::string& displaced_by() const { return displaced_by_; }
  Incarnation incarnation() const;
  // Order-independent checksum of the member table (tombstones excluded):
  // the sum of a 64-bit hash of (address, status, incarnation) over members.
  uint64_t checksum() const { return checksum_; }
  // Whether this node's member table (and so its ring) agrees with its
  // peers' (the metrics listener's /ready): no full sync in flight, and
  // the checksums peers gossip either match or have disagreed for less
  // than sync_mismatch_min (a change still spreading). True before any
  // checksum was heard.
  bool agrees_with_peers(Instant now) const {
    return !sync_in_flight_ &&
           (sync_mismatches_ == 0 || now < mismatch_since_ + config_.sync_mismatch_min);
  }
  // Every known member, this node included, sorted by name. Each state's
  // address field is filled.
  std::vector<MemberState> members() const;
  // Calls `visit` with every known member's state, this node included, in
  // name order, without copies (the address field as stored: "" for a
  // default name). `visit` must not change the table.
  void for_each_member(const std::function<void(const MemberState&)>& visit) const;
  // The state of the member named `name`, if known.
  std::optional<MemberState> member(std::string_view name) const;
  // The same without a copy, or null if unknown (the forwarding path asks
  // once per request). Valid until the next call that changes the table.
  const MemberState* find_member(std::string_view name) const;
  // Where the member named `name` is reached, or null if unknown: no copy,
  // valid as find_member's.
  const std::string* address_of_member(std::string_view name) const;
  // Alive + suspect members, this node included.
  size_t pingable_count() const { return pingable_count_; }
  bool joined() const { return joined_; }
  bool leaving() const { return leaving_; }
  // True once this node's leave claim has left the dissemination queue.
  bool leave_disseminated() const;
  // True once this node's latest claim about itself (a refutation, new
  // labels) has left the dissemination queue.
  bool self_disseminated() const;
  int health_score() const { return awareness_.score(); }
  // Pingable members other than this node, and how many of them this node
  // has heard from directly (heard.cc).
  size_t peer_count() const { return peers_.size(); }
  size_t heard_peer_count() const { return heard_peers_.size(); }
  // Changes waiting in the piggyback queue.
  size_t pending_changes() const { return queue_.size(); }
  const MembershipStats& stats() const { return stats_; }
  const Config& config() const { return config_; }

 private:
  struct Member {
    MemberState state;
    Instant deadline = kNever;  // suspect->faulty, ->tombstone or ->forget
    Instant suspect_start;
    std::vector<std::string> suspecters;  // first accuser, then confirmers
    size_t peer_index = kNoPeer;          // position in peers_, if pingable
    size_t heard_index = kNoPeer;         // position in heard_peers_, if there
    bool hearsay = false;                 // created non-alive; never seen alive here
    // This node has had a datagram from the member itself (its name as the
    // source, from its address): it exists, not only by others' word.
    bool heard = false;
  };
  static constexpr size_t kNoPeer = SIZE_MAX;
  struct Probe {
    bool active = false;
    std::string target;   // name
    std::string address;  // where it was pinged
    uint64_t seq = 0;
    Instant ack_deadline;
    Instant end;
    bool acked = false;
    bool indirect_sent = false;
    int nacks_expected = 0;
    int nacks = 0;
  };
  struct Relay {
    std::string requester;  // the transport address the ping-req came from
    std::string target;     // only its ack is relayed
    uint64_t requester_seq = 0;
    bool want_nack = false;
    bool nack_sent = false;
    Instant nack_deadline;
    Instant expires;
  };
  // A claim that this node's name is held at another address: before
  // yielding, ask that address whether a live process holds the name.
  struct NameCheck {
    bool active = false;
    Change claim;  // the latest such claim (its address_of: where)
    uint64_t seq = 0;
    Instant deadline;
    int attempts = 0;
  };
  static constexpr int kNameCheckAttempts = 3;
  enum class ExchangeKind { kJoin, kHeal, kSync, kTcpPing };
  struct Exchange {
    ExchangeKind kind;
    std::string to;
    Instant deadline;
  };

  // ---- claims and the member table ----
  // Applies a claim by the precedence rules; returns true if it changed
  // something (and then re-gossips it).
  bool apply(const Change& c, Instant now, bool regossip = true);
  void apply_self_claim(const Change& c, Instant now);
  // True if claim `c` about a member supersedes its state `s` (the same
  // name): at the same address the precedence rules of types.h; at another
  // address the higher incarnation, at equal incarnations the lower
  // address. A total order, so every node ends with the same holder.
  static bool supersedes(const Change& c, const MemberState& s);
  // Refutes with incarnation `above` + 1 at this node's address, telling
  // `accuser` (a name) first.
  void refute(Incarnation above, const std::string& accuser, Instant now);
  void check_name(const Change& c, Instant now);
  void send_name_check(Instant now);
  void finish_name_check(bool answered, Instant now);
  void run_member_timers(Instant now);
  // The largest incarnation a claim may raise a member to now (config.h,
  // incarnation_ahead_max); `own_claim`: a member's alive claim about itself.
  Incarnation incarnation_horizon(Instant now, bool own_claim) const;
  void forget(const std::string& address);
  bool evict_one(Instant now);
  // `address`, if given, moves the member there.
  void set_state(Member& m, Status status, Incarnation inc, const Labels* labels,
                 const std::string& source, Instant now, bool is_new,
                 const std::string* address = nullptr);
  void set_deadline(Member& m, Instant deadline);
  void confirm_suspicion(Member& m, const std::string& source, Instant now);
  int expected_confirmations() const;
  // This node's suspicion timeout after `confirmations` independent ones.
  Duration suspicion_timeout_for(int confirmations) const;
  enum class MergeKind { kJoin, kSync, kHeal };
  void merge_members(const std::vector<MemberState>& states, const std::string& source, Instant now,
                     MergeKind kind);
  Change self_change() const;
  Change change_of(const Member& m, const std::string& source) const;
  // This node's claim that member `m` is `status` (suspect after failed
  // probes, faulty when a suspicion runs out), at its known incarnation
  // and address.
  Change accusation(const Member& m, Status status) const;

  // ---- probing ----
  void start_period(Instant now);
  void start_probe(Instant now);
  void finish_probe(Instant now);
  // A shuffled round of probe targets.
  struct ProbeOrder {
    std::vector<std::string> names;
    size_t next = 0;
  };
  std::optional<std::string> next_probe_target();
  std::optional<std::string> next_in(ProbeOrder& order, bool heard);
  void send_ping_reqs(Instant now);
  void insert_probe_target(const Member& m);
  void remove_peer(Member& m);
  // peers_ and heard_peers_: a member's position in the list is kept in
  // the member (`index`), for O(1) removal.
  static void list_add(std::vector<Member*>& list, size_t Member::*index, Member& m);
  static void list_remove(std::vector<Member*>& list, size_t Member::*index, Member& m);

  // ---- direct evidence (heard.cc) ----
  // A datagram from transport address `from` whose source is `source`:
  // if that is the member's known address, the member is heard.
  void note_heard(std::string_view from, const std::string& source);
  // A join or sync with member `name` over TCP: `peer` is the address we
  // dialed (dialed), or the connection's remote address (accepted).
  void note_heard_over_tcp(std::string_view peer, const std::string& name, bool dialed);
  void mark_heard(Member& m);
  // Keeps heard_peers_ = pingable, heard members other than this node.
  void update_heard_peer(Member& m);
  // Whether a change goes in the queue's priority class: about this node,
  // or about a member heard from directly.
  bool priority_claim(const Change& c) const;
  // The addresses of up to `count` random pingable members other than
  // this node and the member named `exclude`.
  std::vector<std::string> random_pingable(size_t count, std::string_view exclude);

  // ---- messages ----
  // `reply_to`: the transport address the message came from (answers go
  // there, not to the claimed source: no reflection to a third party).
  void handle(const Ping& m, const std::string& reply_to, Instant now);
  void handle(const PingReq& m, const std::string& reply_to, Instant now);
  void handle(const Ack& m, const std::string& reply_to, Instant now);
  void handle(const Nack& m, const std::string& reply_to, Instant now);
  void handle(const Gossip& m, const std::string& reply_to, Instant now);
  void handle(const QueryAnswer& m, const std::string& reply_to, Instant now);
  // The app messages a datagram carries, and the acks they call for.
  void receive_app(const Message& msg, Instant now);
  void send_app_acks();
  void apply_changes(const std::vector<Change>& changes, Instant now);
  void note_checksum(const std::string& source, uint64_t checksum, Instant now);
  // Fills `changes`, then `app`, for a datagram of `base_size` bytes
  // without either.
  void piggyback(std::vector<Change>& changes, std::vector<AppMessage>& app, size_t base_size);
  template <class M>
  void send(const std::string& to, M msg);
  // Queues a change for dissemination; counts it dropped if it could never
  // fit a datagram.
  void enqueue(Change c);
  int retransmit_limit() const;

  // ---- join, heal, sync ----
  void attempt_join(Instant now);
  // This node's join request (joins and heals send the same).
  JoinRequest join_request();
  // The app's state to send (AppState::local), bounded; and a peer's to
  // merge (AppState::merge), if any and within the bound.
  std::string local_app_state(bool join);
  void merge_app_state(const std::string& state, bool join);
  // A full sync with a random pingable member (push_pull_interval).
  void push_pull(Instant now);
  Duration push_pull_interval() const;
  void maybe_heal(Instant now);
  uint64_t start_exchange(ExchangeKind kind, const std::string& to, TcpRequest req, Instant now);
  void finish_join_round(Instant now);
  std::vector<MemberState> member_states() const;

  static uint64_t member_hash(const MemberState& s);
  void emit(const Member& m, std::optional<Status> old, const std::string& source,
            bool forgotten = false);

  Config config_;
  const std::string self_;  // config_.identity()
  Rng rng_;
  Awareness awareness_;
  bool ticked_ = false;  // tick() has run once (lag_tolerance)
  Disseminator queue_;
  MembershipStats stats_;
  AppGossip app_;
  Admission admit_;
  AppState app_state_;
  ConflictCallback conflict_;
  Instant next_push_pull_ = kNever;

  IndexedMap<Member> members_;  // by name, iterated in name order
  std::set<std::pair<Instant, std::string>> timers_;
  uint64_t checksum_ = 0;
  size_t pingable_count_ = 0;
  size_t hearsay_ = 0;  // members with hearsay set
  // The transport address of the datagram being handled ("" otherwise),
  // and how many members each sender introduced in its current second.
  std::string sender_;
  struct Introduced {
    Instant window;
    uint32_t count = 0;
  };
  std::unordered_map<std::string, Introduced> introduced_;
  bool may_introduce(Instant now);

  // Pingable members other than this node (pointers into members_, whose
  // nodes never move): O(1) random choice of helpers and gossip targets.
  std::vector<Member*> peers_;
  // Pingable members heard from directly (a subset of peers_): gossip
  // targets and ping-req helpers come from here when there are enough.
  std::vector<Member*> heard_peers_;
  // Heard and unheard members are probed in turns when both exist.
  ProbeOrder heard_order_;
  ProbeOrder unheard_order_;
  bool unheard_turn_ = false;
  Probe probe_;
  std::string retry_target_;  // probed again next period (probe_strikes)
  int strikes_ = 0;
  Instant next_period_;
  uint64_t next_seq_ = 1;
  std::map<uint64_t, Relay> relays_;

  // Anti-entropy.
  int sync_mismatches_ = 0;
  Instant mismatch_since_;
  Instant last_sync_;
  bool sync_in_flight_ = false;

  // Join and heal.
  std::vector<std::string> seeds_;
  bool joined_ = true;
  bool leaving_ = false;
  bool displaced_ = false;
  std::string displaced_by_;
  NameCheck name_check_;
  Instant next_join_ = kNever;
  Duration join_backoff_;
  int join_round_pending_ = 0;
  Instant next_heal_;
  Instant started_;  // construction: incarnation_horizon counts from here

  uint64_t next_exchange_id_ = 1;
  std::map<uint64_t, Exchange> pending_exchanges_;

  std::vector<OutDatagram> datagrams_;
  std::vector<OutExchange> exchanges_out_;
  std::vector<MemberEvent> events_;
};

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_MEMBERSHIP_H_
