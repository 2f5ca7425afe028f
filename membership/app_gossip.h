// Copyright shoal authors. App gossip: the app's own messages on the
// gossip path. memberlist's user broadcasts, serf's user events and
// queries, in one mechanism.
//
// A message (messages.h AppMessage) rides in datagrams after the
// membership changes, in whatever room they leave. Every member that
// receives one for the first time delivers it (to the app, through
// Membership::take_app) and queues it to pass on. The queue sends each
// message at most `limit` times (Membership's retransmit limit, which
// grows with log2 N), fewest sends first, newest first among equals.
// The queue is bounded: when it is full, the message sent most often
// (the oldest among equals) is dropped and counted.
//
// At most once per node, by kind:
//   broadcast  identified by (origin, name) and ordered by (epoch, seq):
//              the origin's incarnation at start and a counter, so a
//              restarted origin's broadcasts are newer. A broadcast
//              older than or equal to the newest delivered for its
//              (origin, name) is not delivered again, and a newer one
//              replaces the older in the queue. The versions of
//              seen_max (origin, name) pairs are kept, the least recently
//              used dropped first. Not delivered to its origin
//              (memberlist's).
//   event      serf's user event: the sender's Lamport clock stamps it and
//              every receiver witnesses the time. The last `buffer` times
//              are kept, each with the events seen at it, so a repeat is
//              not delivered again; an event older than the buffer is
//              refused (counted). A coalescing event is held: of a burst of
//              events with one name only the newest is delivered, once no
//              new one came for quiescent_period or coalesce_period after
//              the first. Delivered to its origin too (serf's).
//   query      as an event (its own clock and buffer; identified by the
//              asker and a random id). A member that matches the filter
//              delivers it (the asker too), acks at once if asked, and may
//              answer once before the query's timeout (answer()). The
//              asker takes each member's ack and response once while the
//              query is open, and is told when the timeout ends it.
//
// Deterministic like the rest of the core; owned by one Membership.

#ifndef SHOAL_MEMBERSHIP_APP_GOSSIP_H_
#define SHOAL_MEMBERSHIP_APP_GOSSIP_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "shoal/membership/messages.h"
#include "shoal/membership/stats.h"
#include "shoal/membership/types.h"

namespace shoal::membership {

inline constexpr size_t kAppNameMax = 128;

// "" if `a` is well-formed, else the first problem ("name: empty"): a
// known kind; the origin a member name; the name 1 to kAppNameMax bytes
// of letters, digits and ". _ - : /"; for a query, reply_to a member
// address and every filter name a member name, filter labels within
// kLabelsBytesMax. Sizes beyond these are bounded by the datagram.
std::string check_app_message(const AppMessage& a);
// "" if `name` is a valid app message name (as above), else the problem,
// prefixed by `field` ("name: empty").
std::string check_app_name(const std::string& name, std::string_view field = "name");

// "broadcast", "event", "query".
std::string_view to_string(AppKind k);

// A query's filter as the asker gives it (Membership::query).
struct QuerySpec {
  std::string name;
  std::string payload;
  std::vector<std::string> names;  // only these members (none: all)
  Labels labels;                   // only members with all these labels
  bool want_ack = false;
  Duration timeout{};  // zero: Membership's default for the cluster size
};

// What the app gets from app gossip (Membership::take_app).
struct AppOutput {
  enum class What : uint8_t {
    kDelivery,  // `message` arrived (a broadcast, an event, a query to answer)
    kAnswer,    // an ack or a response to query `id` from `from`
    kQueryEnd,  // query `id` timed out: no more answers
  };
  What what = What::kDelivery;
  AppMessage message{};   // kDelivery
  uint64_t id = 0;        // kAnswer, kQueryEnd
  std::string from{};     // kAnswer: the member that answered
  bool ack = false;       // kAnswer: an ack, not a response
  std::string payload{};  // kAnswer
};

class AppGossip {
 public:
  struct Options {
    size_t queue_max = 1024;
    size_t seen_max = 4096;
    size_t buffer = 512;       // serf's EventBuffer and QueryBuffer
    size_t per_time_max = 64;  // events (queries) kept for one Lamport time
    Duration coalesce_period = std::chrono::seconds(2);
    Duration quiescent_period = std::chrono::milliseconds(500);
    size_t open_queries_max = 256;  // this node's queries awaiting answers
    size_t to_answer_max = 1024;    // delivered queries awaiting the app's answer
  };

  // `self`: this node's name; `address`: where answers to its queries
  // come; `epoch`: its incarnation at start; messages whose encoding
  // exceeds `message_bytes_max` are refused.
  AppGossip(std::string self, std::string address, uint64_t epoch, size_t message_bytes_max,
            MembershipStats& stats, Options options);

  // ---- sending: "" or why not (nothing queued then) ----
  std::string broadcast(std::string name, std::string payload);
  std::string event(std::string name, std::string payload, bool coalesce, Instant now);
  // Sets `id`. `timeout` must be positive (Membership fills the default).
  std::string query(const QuerySpec& spec, const Labels& self_labels, uint64_t id, Instant now);
  // This node's answer to delivered query `id` (once, before its
  // timeout): fills `to` (the asker's address) and `out`.
  std::string answer(uint64_t id, std::string payload, size_t datagram_budget, size_t cluster_size,
                     std::string& to, QueryAnswer& out);

  // ---- the gossip path ----
  // Appends queued messages to `out` while they fit `budget` bytes; each
  // counts as a send. Skips those `out` holds already (a second fill of
  // one datagram). Returns the bytes used.
  size_t fill(std::vector<AppMessage>& out, size_t budget, int limit);
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // A message from a datagram (checked by the codec).
  void receive(const AppMessage& a, const Labels& self_labels, Instant now);
  // An ack or response to one of this node's queries.
  void on_answer(const QueryAnswer& a);
  // Acks to send: (asker's address, ack), drained by Membership.
  std::vector<std::pair<std::string, QueryAnswer>> take_acks() { return std::exchange(acks_, {}); }

  void tick(Instant now);
  Instant next_deadline() const;
  std::vector<AppOutput> take_outputs() { return std::exchange(outputs_, {}); }
  uint64_t event_clock() const { return events_.clock; }
  uint64_t query_clock() const { return queries_.clock; }

 private:
  struct Entry {
    AppMessage message;
    size_t bytes = 0;
    int sends = 0;
    uint64_t order = 0;
  };
  // (sends, newest first, id): the send order.
  using Key = std::tuple<int, uint64_t, uint64_t>;
  static Key key_of(uint64_t id, const Entry& e) { return {e.sends, ~e.order, id}; }
  struct Version {
    uint64_t epoch = 0;
    uint64_t seq = 0;
    uint64_t used = 0;  // recency, for eviction
  };
  // Events or queries seen at one Lamport time.
  struct Slot {
    uint64_t time = UINT64_MAX;
    std::vector<std::tuple<std::string, std::string, std::string, uint64_t>> seen;
  };
  struct Lamport {
    uint64_t clock = 0;  // the next time this node stamps
    std::vector<Slot> slots;
  };
  enum class Fresh { kNew, kSeen, kTooOld, kFull };
  struct Held {  // a coalescing event waiting
    AppMessage message;
    Instant first;
    Instant last;
  };
  struct Open {  // one of this node's queries
    Instant deadline;
    std::set<std::string, std::less<>> acked;
    std::set<std::string, std::less<>> responded;
  };
  struct ToAnswer {  // a delivered query the app may answer
    std::string reply_to;
    Instant deadline;
  };

  std::string check_size(const AppMessage& a) const;
  void enqueue(AppMessage a);
  // Whether broadcast `a` is newer than any seen for its (origin, name);
  // records it if so.
  bool note_broadcast(const AppMessage& a);
  Fresh note_time(Lamport& l, const AppMessage& a);
  void deliver_event(AppMessage a, Instant now);
  void deliver_query(const AppMessage& q, const Labels& self_labels, Instant now);
  bool matches(const AppMessage& q, const Labels& self_labels) const;
  void count_fresh(Fresh f);

  const std::string self_;
  const std::string address_;
  const uint64_t epoch_;
  const size_t message_bytes_max_;
  MembershipStats& stats_;
  const Options options_;

  std::map<uint64_t, Entry> entries_;
  std::set<Key> order_;
  std::map<std::pair<std::string, std::string>, uint64_t, std::less<>> queued_broadcast_;
  uint64_t next_entry_ = 0;

  uint64_t broadcast_seq_ = 0;
  std::map<std::pair<std::string, std::string>, Version, std::less<>> versions_;
  uint64_t version_uses_ = 0;
  Lamport events_;
  Lamport queries_;
  std::map<std::string, Held, std::less<>> held_;
  std::map<uint64_t, Open> open_;
  std::map<uint64_t, ToAnswer> to_answer_;

  std::vector<std::pair<std::string, QueryAnswer>> acks_;
  std::vector<AppOutput> outputs_;
};

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_APP_GOSSIP_H_
