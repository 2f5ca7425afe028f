// Copyright shoal authors. The forwarder: Ringpop's handleOrProxy, both
// halves, as a state machine without I/O.
//
// Sender: forward(key) looks the key up in the current ring. If this node
// owns it, the local handler runs at once. Otherwise the request goes to
// the owner as an OutForward for the driver's link layer, which reports
// back on_response() or on_link_failed(). Every call ends in exactly one
// ForwardResult, always: a response or an error that says which.
//
//   forward ---> attempt: lookup ---> own key: run handler ---------> done
//                   ^        `-----> owner: breaker open? --------> done(circuit_open)
//                   |                       in flight >= max? ----> done(overloaded)
//                   |                       send, wait for a share
//                   |                       of the remaining budget
//                   |                          |          |        |
//                   |                   response   not_owner,   link failed,
//                   |                          |   shutting_down  no answer in time
//                   |                          v          v        v
//                   |                        done     retry_later: 10, 40, 160 ms
//                   `-------------------------------------'  (retries left, budget left)
//
// An owner that answers shutting_down is leaving gracefully: that is no
// breaker failure and uses no retry; the key is looked up again every
// 50 ms until the rings drop the owner, within the time budget.
//
// Retries look the key up again, so a request follows its key to a new
// owner, and runs locally if the key became local. Per-peer circuit
// breaker: breaker_failures consecutive failures (a failed link, or an
// attempt unanswered in time while the peer answered nothing else: a peer
// that answers other requests meanwhile is up, and only this request's
// handler is slow) open the circuit for breaker_open; then one trial
// request (half-open) decides. At most
// inflight_max requests in flight per peer; more fail with kOverloaded
// instead of queueing without bound.
//
// Receiver: serve() checks that this node owns the key in its own ring
// (key-level consistency: equal ring checksums are not required, they
// differ during every rolling deploy) and runs the handler; otherwise it
// answers not_owner and the sender retries. Every request carries an id
// that its retries keep; the owner remembers the answers of the requests
// it ran for their time budget (at most kServedMax), so a handler runs at
// most once per request even when an answer is lost and the request is
// retried. A request that waited past its time budget before its turn
// came (behind slow handlers) is answered timeout, not run. A request
// never travels
// further than its owner, so it cannot loop. A request whose sender's ring
// checksum differs from ours is counted (forwards_ring_mismatch).
//
// Time is passed in: tick(now) at next_deadline(), as for the membership
// core, so node/ runs it on Asio and tests/sim in virtual time.
//
// Thread safety: none; the node's io thread owns it. Done callbacks and the
// handler run inside the call that completes them.

#ifndef SHOAL_NODE_FORWARDER_H_
#define SHOAL_NODE_FORWARDER_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shoal/membership/types.h"
#include "shoal/node/counters.h"
#include "shoal/node/forwarding.h"
#include "shoal/node/handler.h"
#include "shoal/node/histogram.h"
#include "shoal/node/replication.h"
#include "shoal/proto/codec.h"
#include "shoal/ring/publisher.h"

namespace shoal::node {

using membership::Duration;
using membership::Instant;

// A request for the handler executor: run the application's handler on
// `request`, then report with on_job_done(id, ...).
struct HandlerJob {
  uint64_t id = 0;
  Request request;
};

struct ForwarderOptions {
  // Requests in flight to one peer before new ones fail with kOverloaded.
  uint32_t inflight_max = 4096;
  // Consecutive failures to one peer that open its circuit, and how long it
  // stays open before one trial request (half-open).
  uint32_t breaker_failures = 5;
  Duration breaker_open = std::chrono::seconds(1);
  // The first request id this forwarder hands out. Ids name a request at
  // its owner together with the sender's address, so a restarted sender
  // must not reuse its former self's: the engine starts them from its
  // start incarnation (wall-clock ms) << 20.
  uint64_t first_request_id = 1;
};

// A request for the link layer: send `request` to `peer`, tagged `id`; the
// answer comes back through on_response(peer, id, ...).
struct OutForward {
  std::string peer;
  uint64_t id = 0;
  proto::ForwardRequest request;
};

// A request deadline in the protocol's clock as the steady_clock time point
// Request::deadline holds (the node's clock is steady_clock; the simulator's
// virtual time maps onto it the same way).
inline std::chrono::steady_clock::time_point to_steady(membership::Instant t) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(t.time_since_epoch()));
}

class Forwarder {
 public:
  using Done = std::function<void(ForwardResult)>;
  using DoneAll = std::function<void(std::vector<KeyResult>)>;
  using DoneReplicas = std::function<void(ReplicaResult)>;
  // Where a served request's answer goes (called once, on the io thread).
  using Answer = std::function<void(const proto::ForwardResponse&)>;

  // `self` is this node's address as it appears on the ring; `ring` must
  // outlive the forwarder.
  Forwarder(std::string self, ForwarderOptions options, const ring::RingPublisher& ring);

  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Called when a peer's circuit opens (for a log line).
  void on_breaker_open(std::function<void(std::string_view peer, uint32_t failures)> f) {
    breaker_open_hook_ = std::move(f);
  }

  // ---- sender ----
  void forward(std::string key, std::string payload, ForwardOptions options, Done done,
               Instant now);
  // Ringpop's handleOrProxyAll: groups `keys` by owner, sends one request
  // per owner (its handler sees the group in Request::keys), and ends with
  // a result per key, in the order given, once every group has ended.
  void forward_all(std::vector<std::string> keys, std::string payload, ForwardOptions options,
                   DoneAll done, Instant now);
  // A directed request (Node::request): to the member named `member`,
  // whoever owns `key` ("" for none; the handler sees it), with no ring
  // lookup and no not_owner; the same contract otherwise (retries to the
  // same member, deadline, breaker, in-flight bound). `replica`: which of
  // the key's owners the member is, for the handler (-1: none). Ends at
  // once in unknown_member if the target check says the member cannot take
  // it (unknown, faulty, gone, an older minor); on this node itself it
  // runs the local handler.
  void request(std::string member, std::string key, int replica, std::string payload,
               ForwardOptions options, Done done, Instant now);
  // Node::replicate (replication.h): `key` at its first options.n owners
  // in this node's ring, through request(); ends once the quorum answered
  // ok or can no longer.
  void replicate(std::string key, std::string payload, ReplicaOptions options, DoneReplicas done,
                 Instant now);
  // Whether a member can take a directed request: "" if so, else why not.
  // Without one, every member is taken to be able to.
  void set_target_check(std::function<std::string(std::string_view member)> check) {
    target_check_ = std::move(check);
  }
  // The owner's answer to request `id`. Ignored unless that request's
  // attempt in flight went to `peer`.
  void on_response(std::string_view peer, uint64_t id, proto::ForwardResponse response,
                   Instant now);
  // The connection to `peer` failed: every request in flight to it fails
  // over to a retry.
  void on_link_failed(std::string_view peer, const std::string& why, Instant now);
  void tick(Instant now);
  Instant next_deadline() const;
  std::vector<OutForward> take_sends() { return std::exchange(sends_, {}); }

  // ---- the handler executor ----
  // Requests for the application's handler, local and served ones; each
  // ends with on_job_done(). A local call whose budget runs out first ends
  // in timeout; its handler's later answer is dropped.
  std::vector<HandlerJob> take_jobs() { return std::exchange(jobs_out_, {}); }
  void on_job_done(uint64_t job, HandlerOutcome outcome, Instant now);
  // Handler runs started and not yet answered.
  size_t jobs_in_flight() const { return jobs_.size(); }
  // Ends every call in progress with kShuttingDown, as it does any later
  // forward(); serve() answers shutting_down.
  void shutdown();

  // ---- receiver ----
  // The answer to a forwarded request. `leaving`: this node is leaving the
  // cluster (answers shutting_down, so the sender retries elsewhere).
  // A request this node already ran (same source and request id, within
  // the request's time budget) gets the same answer again without running
  // the handler: a retry after a lost answer runs nothing twice.
  // A retry that comes while the first run is still going waits for its
  // answer. `received`: when the request's bytes arrived. A request whose
  // time budget (timeout_ms) has passed since then is not run: it is
  // answered timeout (forwards_expired), as its sender has given up on it.
  // The answer goes to `answer`: at once, or once the handler has run.
  void serve(proto::ForwardRequest request, bool leaving, Instant received, Instant now,
             Answer answer);

  const ForwardStats& stats() const { return stats_; }
  // How long calls took from forward() to their result, by outcome (the
  // index of the outcome in kForwardErrors).
  const std::array<LatencyHistogram, std::size(kForwardErrors)>& durations() const {
    return durations_;
  }
  size_t calls_in_progress() const { return calls_.size(); }

 private:
  // kHandling: the key is local and the handler has it (job).
  enum class Phase { kInFlight, kBackoff, kHandling };
  struct Call {
    std::vector<std::string> keys;  // [0] is the key that picks the owner
    std::string payload;
    Headers headers;
    std::string endpoint;
    bool directed = false;
    std::string target;  // a directed request's member
    int replica = -1;
    Done done;
    Instant deadline;
    Instant started{};
    int retries_left = 0;
    int attempts = 0;
    std::string peer;    // of the attempt in flight ("" if none)
    Instant sent_at{};   // of the attempt in flight
    bool trial = false;  // this attempt is its peer's half-open trial
    std::string last_error;
    ForwardError last_code = ForwardError::kOk;
    Phase phase = Phase::kInFlight;
    uint64_t job = 0;                   // in kHandling
    Instant wake = membership::kNever;  // in deadlines_ unless kNever
  };
  // A handler run: for a local call, or for served requests (the first
  // and any retry that came while it ran wait for its answer).
  struct Job {
    uint64_t call = 0;  // the local call, or 0
    std::vector<Answer> answers;
    std::string source;
    uint64_t request_id = 0;
    uint32_t timeout_ms = 0;
  };
  struct Peer {
    uint32_t inflight = 0;
    uint32_t failures = 0;  // consecutive
    Instant open_until{};
    Instant last_answer{};  // when it last answered any request
    bool trial_in_flight = false;
  };

  // A directed call's member and replica (not directed: a keyed call).
  struct Target {
    bool directed = false;
    std::string member;
    int replica = -1;
  };
  void start_call(std::vector<std::string> keys, std::string payload, ForwardOptions options,
                  Done done, Instant now, Target target);
  // Why call `c` cannot start ("" if it can).
  static std::string bad_call(const Call& c);
  // Runs call `c` (id) on this node's own handler.
  void run_here(uint64_t id, Call& c);
  void attempt(uint64_t id, Instant now);
  // Every key of `keys` is `owner`'s in `ring`.
  static bool owns_all(const ring::Ring& ring, const std::vector<std::string>& keys,
                       std::string_view owner);
  uint64_t start_job(Job job, Request request);
  // Why a request cannot be served as it is ("" if it can).
  static std::string bad_request(const proto::ForwardRequest& request);
  // Sends call `c` (id) to `owner` if its breaker and in-flight bound allow.
  void send_to(uint64_t id, Call& c, const std::string& owner, const ring::Ring& ring, Instant now);
  void attempt_timed_out(uint64_t id, Instant now);
  // Schedules the next attempt; `owner_leaving`: the owner answered that
  // it is leaving, which uses no retry (the time budget still bounds it).
  void retry_later(uint64_t id, Instant now, bool owner_leaving = false);
  void finish(uint64_t id, ForwardError code, std::string message, std::string payload = {},
              std::string handled_by = {});
  void end_attempt(Call& c);  // the attempt in flight is over: release its peer slot
  void peer_result(const std::string& address, bool success, bool trial, Instant now);
  void wake_at(uint64_t id, Call& c, Instant at);
  // Answers of requests whose handler ran, per source by request id.
  // Each request says below which id its source has seen every request
  // end (acked_below): those answers are forgotten then, so the memory
  // holds about the source's requests in flight, not a budget's worth of
  // every request. Entries past their budget go too, and the total is
  // bounded (the oldest of the source at hand go first).
  struct Served {
    proto::ForwardResponse response;
    Instant expires;
  };
  using SourceMemory = std::map<uint64_t, Served>;
  void forget_served(SourceMemory& memory, uint64_t acked_below, Instant now);
  void remember(const std::string& source, uint64_t request_id, uint32_t timeout_ms,
                const proto::ForwardResponse& response, Instant now);
  static constexpr size_t kServedMax = 65536;

  std::string self_;
  ForwarderOptions options_;
  ring::RingReader ring_;
  std::function<void(std::string_view, uint32_t)> breaker_open_hook_;
  std::function<std::string(std::string_view)> target_check_;
  bool shutting_down_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Call> calls_;
  std::map<std::string, Peer, std::less<>> peers_;
  std::set<std::pair<Instant, uint64_t>> deadlines_;
  std::map<std::string, SourceMemory, std::less<>> served_;  // by source
  size_t served_count_ = 0;
  std::vector<OutForward> sends_;
  uint64_t next_job_ = 1;
  std::map<uint64_t, Job> jobs_;
  std::map<std::pair<std::string, uint64_t>, uint64_t> running_;  // (source, request id) -> job
  std::vector<HandlerJob> jobs_out_;
  ForwardStats stats_;
  std::array<LatencyHistogram, std::size(kForwardErrors)> durations_{};
  // The time of the input being handled (every entry point that takes
  // `now` sets it): when finish() ends a call.
  Instant now_{};
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_FORWARDER_H_
