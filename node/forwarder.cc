// Copyright shoal authors. The forwarder (contract and diagram in
// forwarder.h).

#include "shoal/node/forwarder.h"

#include <algorithm>

#include "shoal/membership/assert.h"
#include "shoal/membership/member_address.h"
#include "shoal/node/replicator.h"

namespace shoal::node {

using std::chrono::milliseconds;

namespace {
// An attempt waits at least this long for its answer, however little of
// the budget is left.
constexpr Duration kAttemptMin = milliseconds(20);

// Why a request is over its bounds ("" if it is not): the same check where
// a call starts and again at the member that serves it. `replica`: the
// owner number, -1 for none.
std::string over_bounds(size_t keys, const std::string& endpoint, const std::string& member,
                        int64_t replica, const Headers& headers) {
  if (keys > kKeysMax) {
    return std::to_string(keys) + " keys in one request, over the limit of " +
           std::to_string(kKeysMax);
  }
  if (std::string why = check_endpoint(endpoint); !why.empty()) return why;
  if (member.size() > membership::kMemberNameMax) {
    return "a member name of " + std::to_string(member.size()) + " bytes, over the limit of " +
           std::to_string(membership::kMemberNameMax);
  }
  if (replica >= static_cast<int64_t>(kReplicasMax)) {
    return "replica " + std::to_string(replica) + " is beyond " + std::to_string(kReplicasMax);
  }
  return check_headers(headers);
}

}  // namespace

Forwarder::Forwarder(std::string self, ForwarderOptions options, const ring::RingPublisher& ring)
    : self_(std::move(self)),
      options_(options),
      ring_(ring),
      next_id_(std::max<uint64_t>(1, options.first_request_id)) {}

void Forwarder::forward(std::string key, std::string payload, ForwardOptions options, Done done,
                        Instant now) {
  std::vector<std::string> keys;
  keys.push_back(std::move(key));
  start_call(std::move(keys), std::move(payload), std::move(options), std::move(done), now,
             Target{});
}

void Forwarder::forward_all(std::vector<std::string> keys, std::string payload,
                            ForwardOptions options, DoneAll done, Instant now) {
  struct All {
    std::vector<KeyResult> results;
    size_t groups_left = 0;
    DoneAll done;
  };
  auto all = std::make_shared<All>();
  all->done = std::move(done);
  all->results.resize(keys.size());
  // Owners as strings: the ring may be replaced while the calls start.
  std::map<std::string, std::vector<size_t>> groups;
  {
    const ring::Ring& ring = ring_.get();
    for (size_t i = 0; i < keys.size(); ++i) groups[std::string(ring.lookup(keys[i]))].push_back(i);
  }
  all->groups_left = groups.size();
  if (groups.empty()) return all->done({});
  for (auto& [owner, indices] : groups) {
    std::vector<std::string> group;
    for (size_t i : indices) {
      all->results[i].key = keys[i];
      group.push_back(keys[i]);
    }
    start_call(
        std::move(group), payload, options,
        [all, indices = std::move(indices)](ForwardResult r) {
          for (size_t i : indices) all->results[i].result = r;
          if (--all->groups_left == 0) all->done(std::move(all->results));
        },
        now, Target{});
  }
}

void Forwarder::request(std::string member, std::string key, int replica, std::string payload,
                        ForwardOptions options, Done done, Instant now) {
  ++stats_.requests_directed;
  std::vector<std::string> keys;
  keys.push_back(std::move(key));
  start_call(std::move(keys), std::move(payload), std::move(options), std::move(done), now,
             Target{true, std::move(member), replica});
}

void Forwarder::replicate(std::string key, std::string payload, ReplicaOptions options,
                          DoneReplicas done, Instant now) {
  now_ = now;
  ++stats_.replications;
  auto counted = [this, done = std::move(done)](ReplicaResult r) {
    if (!r.ok()) ++stats_.replications_failed;
    if (done) done(std::move(r));
  };
  const ring::Ring& ring = ring_.get();
  if (std::string why = check_replica_options(options, ring.member_count()); !why.empty()) {
    return counted(ReplicaResult{ForwardError::kBadRequest, std::move(why), 0, {}});
  }
  std::vector<std::string> owners;
  for (std::string_view m : ring.lookup_n(key, options.n)) owners.emplace_back(m);
  auto send = [this, key, payload = std::move(payload), forward = options.request](
                  const std::string& member, int replica, Done d) {
    // now_: the time of the input being handled, which answered the owner
    // before (serial fan-out) or is this call itself.
    request(member, key, replica, payload, forward, std::move(d), now_);
  };
  replicate_over(std::move(owners), options, std::move(send), std::move(counted));
}

void Forwarder::start_call(std::vector<std::string> keys, std::string payload,
                           ForwardOptions options, Done done, Instant now, Target target) {
  now_ = now;
  const uint64_t id = next_id_++;
  Call& c = calls_[id];
  c.started = now;
  c.keys = std::move(keys);
  c.payload = std::move(payload);
  c.headers = std::move(options.headers);
  c.endpoint = std::move(options.endpoint);
  c.directed = target.directed;
  c.target = std::move(target.member);
  c.replica = target.replica;
  c.done = std::move(done);
  c.deadline = now + options.timeout;
  c.retries_left = std::max(0, options.retries);
  if (std::string why = bad_call(c); !why.empty()) {
    return finish(id, ForwardError::kBadRequest, std::move(why));
  }
  attempt(id, now);
}

std::string Forwarder::bad_call(const Call& c) {
  if (c.directed && c.target.empty()) return "a directed request names no member";
  return over_bounds(c.keys.size(), c.endpoint, c.target, c.replica, c.headers);
}

bool Forwarder::owns_all(const ring::Ring& ring, const std::vector<std::string>& keys,
                         std::string_view owner) {
  return std::all_of(keys.begin(), keys.end(),
                     [&](const std::string& k) { return ring.lookup(k) == owner; });
}

uint64_t Forwarder::start_job(Job job, Request request) {
  const uint64_t id = next_job_++;
  jobs_.emplace(id, std::move(job));
  jobs_out_.push_back(HandlerJob{id, std::move(request)});
  return id;
}

void Forwarder::attempt(uint64_t id, Instant now) {
  now_ = now;
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& c = it->second;
  if (shutting_down_) return finish(id, ForwardError::kShuttingDown, "node is stopping");
  if (now >= c.deadline) {
    return finish(id, c.last_code == ForwardError::kOk ? ForwardError::kTimeout : c.last_code,
                  c.last_error.empty() ? "no answer within the time budget" : c.last_error);
  }
  ++c.attempts;
  const ring::Ring& ring = ring_.get();
  if (c.directed) {
    // A directed request: the member itself, wherever the key lives.
    std::string why = target_check_ ? target_check_(c.target) : std::string();
    if (!why.empty()) {
      ++stats_.requests_unknown_member;
      return finish(id, ForwardError::kUnknownMember, std::move(why));
    }
    if (c.target == self_) return run_here(id, c);
    return send_to(id, c, c.target, ring, now);
  }
  const std::string owner(ring.lookup(c.keys[0]));
  if (owner.empty()) return finish(id, ForwardError::kOwnerUnreachable, "the ring is empty");
  if (owner == self_) {
    if (!owns_all(ring, c.keys, self_)) {
      // A group whose keys no longer share an owner: the ring moved.
      c.last_code = ForwardError::kTooManyRingChanges;
      c.last_error = "the keys of this request no longer share an owner";
      return retry_later(id, now);
    }
    return run_here(id, c);
  }
  send_to(id, c, owner, ring, now);
}

void Forwarder::run_here(uint64_t id, Call& c) {
  ++stats_.forwards_local;
  Request r{c.keys[0], c.keys,    c.payload, c.headers, c.attempts, to_steady(c.deadline),
            self_,     c.endpoint};
  if (c.directed) {
    r.directed = true;
    r.replica = c.replica;
    if (r.key.empty() && r.keys.size() == 1) r.keys.clear();
  }
  c.phase = Phase::kHandling;
  c.job = start_job(Job{id, {}, {}, 0, 0}, std::move(r));
  // The call ends at its deadline, answered or not.
  wake_at(id, c, c.deadline);
}

void Forwarder::send_to(uint64_t id, Call& c, const std::string& owner, const ring::Ring& ring,
                        Instant now) {
  Peer& p = peers_[owner];
  c.trial = false;
  if (p.failures >= options_.breaker_failures) {
    if (now < p.open_until || p.trial_in_flight) {
      return finish(
          id, ForwardError::kCircuitOpen,
          "circuit to " + owner + " is open after " + std::to_string(p.failures) + " failures");
    }
    p.trial_in_flight = true;  // half-open: this request is the trial
    c.trial = true;
  }
  if (p.inflight >= options_.inflight_max) {
    if (c.trial) p.trial_in_flight = false;  // the trial never went out
    c.trial = false;
    return finish(id, ForwardError::kOverloaded,
                  std::to_string(p.inflight) + " requests in flight to " + owner);
  }
  const auto remaining = std::chrono::duration_cast<milliseconds>(c.deadline - now);
  proto::ForwardRequest request{c.keys[0],
                                c.payload,
                                ring.checksum(),
                                self_,
                                static_cast<uint32_t>(std::max<int64_t>(remaining.count(), 1)),
                                id,
                                calls_.begin()->first};
  request.headers = c.headers;
  request.more_keys.assign(c.keys.begin() + 1, c.keys.end());
  request.attempt = static_cast<uint32_t>(c.attempts);
  request.endpoint = c.endpoint;
  request.to_member = c.target;
  request.replica = c.replica >= 0 ? static_cast<uint32_t>(c.replica) + 1 : 0;
  sends_.push_back(OutForward{owner, id, std::move(request)});
  ++p.inflight;
  ++stats_.forwards_sent;
  c.peer = owner;
  c.sent_at = now;
  c.phase = Phase::kInFlight;
  // This attempt may use its share of the remaining budget; a silent owner
  // then leaves time for a retry elsewhere.
  const Duration share = (c.deadline - now) / (c.retries_left + 1);
  wake_at(id, c, now + std::max(share, kAttemptMin));
}

void Forwarder::attempt_timed_out(uint64_t id, Instant now) {
  Call& c = calls_.at(id);
  const std::string peer = c.peer;
  const bool trial = c.trial;
  end_attempt(c);
  // A peer that answered other requests since this one left is up: this
  // request's handler is slow, which is no reason to open its circuit.
  Peer& p = peers_[peer];
  if (p.last_answer <= c.sent_at) {
    peer_result(peer, false, trial, now);
  } else if (trial) {
    p.failures = 0;  // a healthy peer: the trial is over
  }
  c.last_code = ForwardError::kTimeout;
  c.last_error = "no answer from " + peer + " in time";
  retry_later(id, now);
}

void Forwarder::retry_later(uint64_t id, Instant now, bool owner_leaving) {
  Call& c = calls_.at(id);
  if ((c.retries_left <= 0 && !owner_leaving) || shutting_down_) {
    return finish(id,
                  c.last_code == ForwardError::kOk ? ForwardError::kOwnerUnreachable : c.last_code,
                  c.last_error);
  }
  if (!owner_leaving) --c.retries_left;
  ++stats_.forwards_retried;
  // Give the ring a moment to catch up with whatever failed: 10, 40, 160 ms
  // (the deadline check in attempt() bounds the whole).
  const auto delay =
      owner_leaving ? milliseconds(50) : milliseconds(10 << (2 * std::min(c.attempts - 1, 4)));
  c.phase = Phase::kBackoff;
  wake_at(id, c, now + delay);
}

void Forwarder::finish(uint64_t id, ForwardError code, std::string message, std::string payload,
                       std::string handled_by) {
  auto node = calls_.extract(id);
  if (node.empty()) return;
  Call& c = node.mapped();
  if (c.wake != membership::kNever) deadlines_.erase({c.wake, id});
  end_attempt(c);
  if (code != ForwardError::kOk) ++stats_.forward_errors;
  const auto* at = std::find(std::begin(kForwardErrors), std::end(kForwardErrors), code);
  if (at != std::end(kForwardErrors)) {
    durations_[static_cast<size_t>(at - std::begin(kForwardErrors))].observe(now_ - c.started);
  }
  if (!c.done) return;
  // The caller's code: whatever it throws stays with it, counted.
  try {
    c.done(ForwardResult{code, std::move(message), std::move(payload), std::move(handled_by),
                         c.attempts});
  } catch (...) {
    ++stats_.forward_callback_errors;
  }
}

void Forwarder::end_attempt(Call& c) {
  if (c.peer.empty()) return;
  auto it = peers_.find(c.peer);
  SHOAL_ASSERT(it != peers_.end() && it->second.inflight > 0);
  --it->second.inflight;
  if (c.trial) it->second.trial_in_flight = false;
  c.peer.clear();
}

void Forwarder::on_response(std::string_view peer, uint64_t id, proto::ForwardResponse response,
                            Instant now) {
  now_ = now;
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // answered after its call ended: dropped
  Call& c = it->second;
  if (c.peer.empty() || c.peer != peer) return;  // not the attempt in flight
  const bool trial = c.trial;
  end_attempt(c);
  const std::string from(peer);
  peers_[from].last_answer = now;
  const auto code = static_cast<ForwardError>(response.error);
  if (code == ForwardError::kShuttingDown && c.directed) {
    // A directed request's member is leaving: no one else can take it.
    peer_result(from, true, trial, now);
    return finish(id, code, std::move(response.error_message), {}, std::move(response.handled_by));
  }
  if (code == ForwardError::kShuttingDown) {
    // The owner is leaving gracefully: it answers, so its circuit is
    // healthy, and every ring drops it once its leave spreads (a gossip
    // round or two). Look again every 50 ms until then, within the time
    // budget and without using a retry: a rolling restart costs no request.
    c.last_code = code;
    c.last_error = std::move(response.error_message);
    if (trial) peers_[from].failures = 0;  // the trial got an orderly answer
    return retry_later(id, now, /*owner_leaving=*/true);
  }
  peer_result(from, true, trial, now);
  if (code == ForwardError::kNotOwner) {
    // The rings disagree: look again and retry.
    c.last_code = ForwardError::kTooManyRingChanges;
    c.last_error = std::move(response.error_message);
    return retry_later(id, now);
  }
  finish(id, code, std::move(response.error_message), std::move(response.payload),
         std::move(response.handled_by));
}

void Forwarder::on_link_failed(std::string_view peer, const std::string& why, Instant now) {
  now_ = now;
  std::vector<uint64_t> affected;
  bool trial = false;
  for (auto& [id, c] : calls_) {
    if (c.peer != peer) continue;
    affected.push_back(id);
    trial = trial || c.trial;
    end_attempt(c);
    c.last_code = ForwardError::kOwnerUnreachable;
    c.last_error = std::string(peer) + ": " + why;
  }
  // An idle connection that closes is no failure of the peer's.
  if (affected.empty()) return;
  peer_result(std::string(peer), false, trial, now);
  for (uint64_t id : affected) retry_later(id, now);
}

void Forwarder::peer_result(const std::string& address, bool success, bool trial, Instant now) {
  Peer& p = peers_[address];  // the trial flag was cleared by end_attempt()
  if (success) {
    p.failures = 0;
    return;
  }
  if (++p.failures == options_.breaker_failures ||
      (trial && p.failures > options_.breaker_failures)) {
    ++stats_.breaker_opens;
    if (breaker_open_hook_) breaker_open_hook_(address, p.failures);
  }
  if (p.failures >= options_.breaker_failures) p.open_until = now + options_.breaker_open;
}

void Forwarder::wake_at(uint64_t id, Call& c, Instant at) {
  if (c.wake != membership::kNever) deadlines_.erase({c.wake, id});
  c.wake = at;
  deadlines_.emplace(at, id);
}

void Forwarder::tick(Instant now) {
  now_ = now;
  // Everything scheduled from here lies in the future (delays > 0), so the
  // loop ends.
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    Call& c = calls_.at(id);
    c.wake = membership::kNever;
    switch (c.phase) {
      case Phase::kInFlight:
        attempt_timed_out(id, now);
        break;
      case Phase::kBackoff:
        attempt(id, now);
        break;
      case Phase::kHandling:
        finish(id, ForwardError::kTimeout,
               "the handler on " + self_ + " did not answer within the time budget");
        break;
    }
  }
}

Instant Forwarder::next_deadline() const {
  return deadlines_.empty() ? membership::kNever : deadlines_.begin()->first;
}

void Forwarder::shutdown() {
  shutting_down_ = true;
  while (!calls_.empty()) {
    finish(calls_.begin()->first, ForwardError::kShuttingDown, "node is stopping");
  }
  // Served requests whose handler still runs: their senders hear it now.
  proto::ForwardResponse r{static_cast<uint32_t>(ForwardError::kShuttingDown), "node is stopping",
                           "", self_};
  for (auto& [id, job] : std::exchange(jobs_, {})) {
    for (const Answer& a : job.answers) a(r);
  }
  running_.clear();
}

std::string Forwarder::bad_request(const proto::ForwardRequest& request) {
  // On the wire, replica is 1 + the owner number (0: none).
  return over_bounds(request.more_keys.size() + 1, request.endpoint, request.to_member,
                     static_cast<int64_t>(request.replica) - 1, request.headers);
}

void Forwarder::serve(proto::ForwardRequest request, bool leaving, Instant received, Instant now,
                      Answer answer) {
  now_ = now;
  ++stats_.forwards_received;
  if (request.request_id != 0) {
    auto mit = served_.find(request.source);
    if (mit != served_.end()) {
      forget_served(mit->second, request.acked_below, now);
      if (auto it = mit->second.find(request.request_id); it != mit->second.end()) {
        ++stats_.forwards_deduplicated;
        return answer(it->second.response);
      }
    }
    // A retry while the first run goes on waits for the same answer.
    if (auto it = running_.find({request.source, request.request_id}); it != running_.end()) {
      ++stats_.forwards_deduplicated;
      jobs_.at(it->second).answers.push_back(std::move(answer));
      return;
    }
  }
  proto::ForwardResponse r;
  r.handled_by = self_;
  const ring::Ring& ring = ring_.get();
  if (request.ring_checksum != ring.checksum()) ++stats_.forwards_ring_mismatch;
  std::vector<std::string> keys;
  keys.reserve(request.more_keys.size() + 1);
  keys.push_back(std::move(request.key));
  for (std::string& k : request.more_keys) keys.push_back(std::move(k));
  auto fail = [&](ForwardError code, std::string why) {
    r.error = static_cast<uint32_t>(code);
    r.error_message = std::move(why);
    answer(r);
  };
  if (shutting_down_ || leaving) return fail(ForwardError::kShuttingDown, "node is leaving");
  if (std::string why = bad_request(request); !why.empty()) {
    return fail(ForwardError::kBadRequest, std::move(why));
  }
  const bool directed = !request.to_member.empty();
  if (directed && request.to_member != self_) {
    // Another member now answers at the address the sender had for it.
    ++stats_.requests_unknown_member;
    return fail(ForwardError::kUnknownMember,
                "a request for " + request.to_member + " reached " + self_);
  }
  if (!directed && !owns_all(ring, keys, self_)) {
    // Key-level consistency: the receiver must own the key; equal ring
    // checksums are not required (they differ during every rolling deploy).
    return fail(ForwardError::kNotOwner,
                "owner is " + std::string(ring.lookup(keys[0])) + " in " + self_ + "'s ring");
  }
  if (directed && keys.size() == 1 && keys[0].empty()) keys.clear();
  const Instant deadline = received + milliseconds(request.timeout_ms);
  if (now >= deadline) {
    // Its sender has given up on it: running it now would only do work no
    // one waits for, behind which the next requests wait longer still.
    ++stats_.forwards_expired;
    return fail(ForwardError::kTimeout, "its " + std::to_string(request.timeout_ms) +
                                            " ms budget ran out on " + self_ +
                                            " before the handler ran");
  }
  Job job{0, {}, request.source, request.request_id, request.timeout_ms};
  job.answers.push_back(std::move(answer));
  std::string key = keys.empty() ? std::string() : keys[0];
  Request q{std::move(key),
            std::move(keys),
            std::move(request.payload),
            std::move(request.headers),
            static_cast<int>(std::max<uint32_t>(request.attempt, 1)),
            to_steady(deadline),
            request.source,
            std::move(request.endpoint),
            directed,
            static_cast<int>(request.replica) - 1};
  const uint64_t id = start_job(std::move(job), std::move(q));
  if (request.request_id != 0)
    running_.emplace(std::make_pair(request.source, request.request_id), id);
}

void Forwarder::on_job_done(uint64_t id, HandlerOutcome outcome, Instant now) {
  now_ = now;
  using Kind = HandlerOutcome::Kind;
  if (outcome.kind == Kind::kIgnored) {
    ++stats_.handler_replies_ignored;
    return;
  }
  auto node = jobs_.extract(id);
  if (node.empty()) return;  // ended meanwhile (shutdown)
  Job& job = node.mapped();
  ForwardError code = ForwardError::kOk;
  std::string message;
  switch (outcome.kind) {
    case Kind::kOk:
    case Kind::kIgnored:
      break;
    case Kind::kThrew:
      ++stats_.handler_exceptions;
      [[fallthrough]];
    case Kind::kFailed:
      code = ForwardError::kHandlerFailed;
      message = std::move(outcome.payload);
      break;
    case Kind::kDropped:
      ++stats_.handler_dropped;
      code = ForwardError::kHandlerDropped;
      message = "the handler on " + self_ + " let go of its reply without answering";
      break;
    case Kind::kExpired:
      ++stats_.forwards_expired;
      code = ForwardError::kTimeout;
      message = "the time budget ran out on " + self_ + " before the handler ran";
      break;
    case Kind::kNoHandler:
      code = ForwardError::kNoHandler;
      message = (outcome.payload.empty() ? std::string("no handler registered")
                                         : std::move(outcome.payload)) +
                " on " + self_;
      break;
    case Kind::kOverloaded:
      code = ForwardError::kOverloaded;
      message = std::move(outcome.payload);
      break;
  }
  std::string payload = code == ForwardError::kOk ? std::move(outcome.payload) : std::string();
  if (job.call != 0) {
    auto it = calls_.find(job.call);
    if (it != calls_.end() && it->second.phase == Phase::kHandling && it->second.job == id) {
      finish(job.call, code, std::move(message), std::move(payload), self_);
    }
    return;
  }
  if (job.request_id != 0) running_.erase({job.source, job.request_id});
  const proto::ForwardResponse r{static_cast<uint32_t>(code), std::move(message),
                                 std::move(payload), self_};
  // What ran is remembered, so a retry does not run it again.
  const bool ran = outcome.kind != Kind::kExpired && outcome.kind != Kind::kNoHandler &&
                   outcome.kind != Kind::kOverloaded;
  if (ran && job.request_id != 0) remember(job.source, job.request_id, job.timeout_ms, r, now);
  for (const Answer& a : job.answers) a(r);
}

void Forwarder::forget_served(SourceMemory& memory, uint64_t acked_below, Instant now) {
  // Ids grow with time, so the expired ones are mostly at the front too.
  auto it = memory.begin();
  while (it != memory.end() && (it->first < acked_below || it->second.expires <= now)) {
    it = memory.erase(it);
    --served_count_;
  }
}

void Forwarder::remember(const std::string& source, uint64_t request_id, uint32_t timeout_ms,
                         const proto::ForwardResponse& response, Instant now) {
  SourceMemory& memory = served_[source];
  // The sender gives up after its budget (at most 10 min is believed).
  const Instant expires = now + milliseconds(std::min<uint32_t>(timeout_ms, 600000));
  if (memory.emplace(request_id, Served{response, expires}).second) ++served_count_;
  if (served_count_ <= kServedMax) return;
  // Over the bound: sweep every source's expired answers, then the oldest
  // of this source.
  for (auto it = served_.begin(); it != served_.end();) {
    forget_served(it->second, 0, now);
    it = it->second.empty() && &it->second != &memory ? served_.erase(it) : std::next(it);
  }
  while (served_count_ > kServedMax && !memory.empty()) {
    memory.erase(memory.begin());
    --served_count_;
  }
}

std::string_view to_string(ForwardError e) {
  switch (e) {
    case ForwardError::kOk:
      return "ok";
    case ForwardError::kTimeout:
      return "timeout";
    case ForwardError::kOwnerUnreachable:
      return "owner_unreachable";
    case ForwardError::kOverloaded:
      return "overloaded";
    case ForwardError::kCircuitOpen:
      return "circuit_open";
    case ForwardError::kTooManyRingChanges:
      return "too_many_ring_changes";
    case ForwardError::kNotOwner:
      return "not_owner";
    case ForwardError::kNoHandler:
      return "no_handler";
    case ForwardError::kHandlerFailed:
      return "handler_failed";
    case ForwardError::kBadRequest:
      return "bad_request";
    case ForwardError::kShuttingDown:
      return "shutting_down";
    case ForwardError::kHandlerDropped:
      return "handler_dropped";
    case ForwardError::kUnknownMember:
      return "unknown_member";
  }
  return "unknown";
}

}  // namespace shoal::node
