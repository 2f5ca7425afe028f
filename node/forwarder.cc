// Copyright shoal authors. The forwarder (contract and diagram in
// forwarder.h).

#include "node/forwarder.h"

#include <algorithm>

#include "membership/assert.h"

namespace shoal::node {

using std::chrono::milliseconds;

namespace {
// An attempt waits at least this long for its answer, however little of
// the budget is left.
constexpr Duration kAttemptMin = milliseconds(20);
}  // namespace

Forwarder::Forwarder(std::string self, ForwarderOptions options, const ring::RingPublisher& ring)
    : self_(std::move(self)),
      options_(options),
      ring_(ring),
      next_id_(std::max<uint64_t>(1, options.first_request_id)) {}

void Forwarder::forward(std::string key, std::string payload, ForwardOptions options, Done done,
                        Instant now) {
  const uint64_t id = next_id_++;
  Call& c = calls_[id];
  c.key = std::move(key);
  c.payload = std::move(payload);
  c.done = std::move(done);
  c.deadline = now + options.timeout;
  c.retries_left = std::max(0, options.retries);
  attempt(id, now);
}

void Forwarder::attempt(uint64_t id, Instant now) {
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
  const std::string owner(ring.lookup(c.key));
  if (owner.empty()) return finish(id, ForwardError::kOwnerUnreachable, "the ring is empty");
  if (owner == self_) {
    ++stats_.forwards_local;
    HandlerResult h = run_handler(c.key, c.payload);
    if (h.ok) return finish(id, ForwardError::kOk, "", std::move(h.payload), self_);
    return finish(id, handler_ ? ForwardError::kHandlerFailed : ForwardError::kNoHandler,
                  std::move(h.payload), "", self_);
  }
  send_to(id, c, owner, ring, now);
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
  sends_.push_back(OutForward{
      owner, id,
      proto::ForwardRequest{c.key, c.payload, ring.checksum(), self_,
                            static_cast<uint32_t>(std::max<int64_t>(remaining.count(), 1)), id,
                            calls_.begin()->first}});
  ++p.inflight;
  ++stats_.forwards_sent;
  c.peer = owner;
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
  peer_result(peer, false, trial, now);
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
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // answered after its call ended: dropped
  Call& c = it->second;
  if (c.peer.empty() || c.peer != peer) return;  // not the attempt in flight
  const bool trial = c.trial;
  end_attempt(c);
  const std::string from(peer);
  const auto code = static_cast<ForwardError>(response.error);
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
  // Everything scheduled from here lies in the future (delays > 0), so the
  // loop ends.
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    Call& c = calls_.at(id);
    c.wake = membership::kNever;
    if (c.phase == Phase::kInFlight) {
      attempt_timed_out(id, now);
    } else {
      attempt(id, now);
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
}

proto::ForwardResponse Forwarder::serve(const proto::ForwardRequest& request, bool leaving,
                                        Instant received, Instant now) {
  ++stats_.forwards_received;
  SourceMemory* memory = nullptr;
  if (request.request_id != 0) {
    auto mit = served_.find(request.source);
    if (mit == served_.end()) mit = served_.emplace(request.source, SourceMemory{}).first;
    memory = &mit->second;
    forget_served(*memory, request.acked_below, now);
    if (auto it = memory->find(request.request_id); it != memory->end()) {
      ++stats_.forwards_deduplicated;
      return it->second.response;
    }
  }
  proto::ForwardResponse r;
  r.handled_by = self_;
  const ring::Ring& ring = ring_.get();
  if (request.ring_checksum != ring.checksum()) ++stats_.forwards_ring_mismatch;
  const std::string_view owner = ring.lookup(request.key);
  if (shutting_down_ || leaving) {
    r.error = static_cast<uint32_t>(ForwardError::kShuttingDown);
    r.error_message = "node is leaving";
  } else if (owner != self_) {
    // Key-level consistency: the receiver must own the key; equal ring
    // checksums are not required (they differ during every rolling deploy).
    r.error = static_cast<uint32_t>(ForwardError::kNotOwner);
    r.error_message = "owner is " + std::string(owner) + " in " + self_ + "'s ring";
  } else if (now - received >= milliseconds(request.timeout_ms)) {
    // Its sender has given up on it: running it now would only do work no
    // one waits for, behind which the next requests wait longer still.
    ++stats_.forwards_expired;
    r.error = static_cast<uint32_t>(ForwardError::kTimeout);
    r.error_message = "its " + std::to_string(request.timeout_ms) + " ms budget ran out on " +
                      self_ + " before the handler ran";
  } else {
    HandlerResult h = run_handler(request.key, request.payload);
    if (h.ok) {
      r.payload = std::move(h.payload);
    } else {
      r.error =
          static_cast<uint32_t>(handler_ ? ForwardError::kHandlerFailed : ForwardError::kNoHandler);
      r.error_message = std::move(h.payload);
    }
    if (memory != nullptr) remember(*memory, request, r, now);
  }
  return r;
}

void Forwarder::forget_served(SourceMemory& memory, uint64_t acked_below, Instant now) {
  // Ids grow with time, so the expired ones are mostly at the front too.
  auto it = memory.begin();
  while (it != memory.end() && (it->first < acked_below || it->second.expires <= now)) {
    it = memory.erase(it);
    --served_count_;
  }
}

void Forwarder::remember(SourceMemory& memory, const proto::ForwardRequest& request,
                         const proto::ForwardResponse& response, Instant now) {
  // The sender gives up after its budget (at most 10 min is believed).
  const Instant expires = now + milliseconds(std::min<uint32_t>(request.timeout_ms, 600000));
  if (memory.emplace(request.request_id, Served{response, expires}).second) ++served_count_;
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

HandlerResult Forwarder::run_handler(std::string_view key, std::string_view payload) {
  if (!handler_) return {false, "no handler registered on " + self_};
  // A handler that throws fails its request (handler_failed), not the node.
  try {
    return handler_(key, payload);
  } catch (const std::exception& e) {
    ++stats_.handler_exceptions;
    return {false, std::string("handler threw: ") + e.what()};
  } catch (...) {
    ++stats_.handler_exceptions;
    return {false, "handler threw"};
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
  }
  return "unknown";
}

}  // namespace shoal::node
