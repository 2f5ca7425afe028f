// Copyright shoal authors. See engine.h.

#include "shoal/node/engine.h"

#include <algorithm>

namespace shoal::node {

using membership::Instant;

namespace {
// Request ids start from this start's incarnation (wall-clock ms) << 20,
// so a restarted node never reuses its former self's ids (1M requests per
// ms of difference).
ForwarderOptions with_request_ids(const EngineOptions& o) {
  ForwarderOptions f = o.forward;
  if (f.first_request_id <= 1) f.first_request_id = (o.protocol.incarnation << 20) | 1;
  return f;
}

std::shared_ptr<Seal> seal_of(const EngineOptions& o) {
  if (o.seal) return o.seal;
  return std::make_shared<Seal>(o.protocol.cluster, Encryption::kOff);
}

// The core packs datagrams smaller by the seal's overhead, so a sealed
// datagram still fits the budget.
membership::Config core_config(const EngineOptions& o, const Seal& seal) {
  membership::Config c = o.protocol;
  c.datagram_budget -= seal.overhead();
  return c;
}
}  // namespace

Engine::Engine(EngineOptions options, uint64_t seed, Instant now)
    : options_(std::move(options)),
      seal_(seal_of(options_)),
      core_(core_config(options_, *seal_), seed, now),
      ring_(options_.replica_points, options_.protocol.identity(), options_.ring_publisher,
            !is_draining(options_.protocol.labels), label_weight(options_.protocol.labels),
            options_.ring_cache),
      forwarder_(options_.protocol.identity(), with_request_ids(options_), ring_.publisher()) {
  forwarder_.set_target_check([this](std::string_view m) { return directed_refusal(m); });
  if (options_.admit) core_.set_admission(options_.admit);
  core_.set_app_state(options_.app_state);
  core_.set_conflict_callback(options_.on_name_conflict);
  if (options_.ring_checksum_only) ring_.set_checksum_only();
}

std::string Engine::directed_refusal(std::string_view name) const {
  // Asked once per directed request: one lookup, no copy.
  const membership::MemberState* m = core_.find_member(name);
  if (m == nullptr) return "no member named " + std::string(name) + " is known to " + core_.name();
  if (m->status != membership::Status::kAlive && m->status != membership::Status::kSuspect) {
    return "member " + std::string(name) + " is " + std::string(membership::to_string(m->status));
  }
  const uint32_t minor = minor_of(address_of(*m));
  if (name != core_.name() && minor != 0 && minor < membership::kMinorDirected) {
    return "member " + std::string(name) + " speaks protocol minor " + std::to_string(minor) +
           ", before directed requests (minor " + std::to_string(membership::kMinorDirected) + ")";
  }
  return "";
}

void Engine::join(const std::vector<std::string>& seeds, Instant now) {
  core_.join(seeds, now);
  collect(now);
}

void Engine::leave(Instant now) {
  core_.leave(now);
  collect(now);
}

std::string Engine::force_leave(const std::string& name, Instant now) {
  std::string why = core_.force_leave(name, now);
  collect(now);
  return why;
}

void Engine::drain(Instant now) {
  if (draining_ || core_.leaving()) return;
  draining_ = true;
  membership::Labels labels = own_labels();
  labels[kDrainingLabel] = "true";
  // Over the label bound: the leave still drains, just without the label
  // (the ring drops this node once the leave spreads instead).
  (void)core_.set_labels(std::move(labels), now);
  collect(now);
}

membership::Labels Engine::own_labels() const {
  auto self = core_.member(core_.name());
  return self ? self->labels : membership::Labels{};
}

std::string Engine::set_labels(membership::Labels labels, Instant now) {
  if (std::string why = check_weight_label(labels); !why.empty()) return why;
  std::string why = core_.set_labels(std::move(labels), now);
  collect(now);
  return why;
}

Engine::Drop Engine::on_datagram(std::string_view from, std::string_view bytes, Instant now) {
  Seal::Opened opened = seal_->open(Seal::Channel::kDatagram, bytes);
  if (!opened.ok()) {
    count_drop(opened.error);
    return {opened.error, std::move(opened.detail)};
  }
  // A plaintext peer may use the whole budget; a sealed datagram's content
  // is smaller by the seal. A newer minor version may add header fields
  // its peers do not count: kNewerFieldsSlack bytes of room for them.
  auto decoded = proto::decode_datagram(opened.plain, cluster(),
                                        options_.protocol.datagram_budget + kNewerFieldsSlack);
  if (!decoded.ok()) {
    count_drop(decoded.error);
    return {decoded.error, std::move(decoded.detail)};
  }
  seal_->heard(from, opened.sealed, decoded.opens_sealed);
  note_minor(from, decoded.minor);
  core_.on_message(from, *decoded.value, now);
  collect(now);
  return {};
}

proto::Decoded<proto::Frame> Engine::decode_frame(std::string_view bytes, SealWith already) {
  if (already) {
    auto decoded = proto::decode_frame(bytes, cluster(), options_.frame_bytes_max);
    if (!decoded.ok()) count_drop(decoded.error);
    decoded.sealed = true;
    decoded.key_id = *already;
    return decoded;
  }
  Seal::Opened opened = seal_->open(Seal::Channel::kFrame, bytes);
  if (!opened.ok()) {
    count_drop(opened.error);
    proto::Decoded<proto::Frame> failed;
    failed.error = opened.error;
    failed.detail = std::move(opened.detail);
    return failed;
  }
  auto decoded = proto::decode_frame(opened.plain, cluster(), options_.frame_bytes_max);
  if (!decoded.ok()) count_drop(decoded.error);
  decoded.sealed = opened.sealed;
  decoded.key_id = opened.key_id;
  return decoded;
}

std::optional<proto::FrameBody> Engine::on_request(std::string_view from, proto::FrameBody& body,
                                                   Instant now) {
  auto req = proto::take_tcp_request(body);
  if (!req) return std::nullopt;
  membership::TcpResponse r = core_.on_tcp_request(from, *req, now);
  collect(now);
  return proto::to_frame_body(std::move(r));
}

bool Engine::on_exchange_response(uint64_t id, proto::FrameBody& body, Instant now) {
  auto resp = proto::take_tcp_response(body);
  if (!resp) {
    on_exchange_failed(id, now);
    return false;
  }
  core_.on_tcp_response(id, *resp, now);
  collect(now);
  return true;
}

void Engine::on_exchange_failed(uint64_t id, Instant now) {
  core_.on_tcp_failure(id, now);
  collect(now);
}

std::vector<OutForward> Engine::take_forwards() {
  std::vector<OutForward> out = forwarder_.take_sends();
  for (OutForward& f : out) {
    // The forwarder speaks names (the ring's); links speak addresses.
    const std::string* address = core_.address_of_member(f.peer);
    if (address == nullptr || *address == f.peer) {
      // A default name; drop what the map may hold for this address (a
      // named member used it before).
      if (!forward_names_.empty()) forward_names_.erase(f.peer);
      continue;
    }
    if (forward_names_.size() >= kForwardNamesMax) forward_names_.clear();
    std::string name = std::exchange(f.peer, *address);
    forward_names_.insert_or_assign(f.peer, std::move(name));
  }
  return out;
}

std::string_view Engine::forward_name(std::string_view address) const {
  auto it = forward_names_.find(address);
  return it == forward_names_.end() ? address : std::string_view(it->second);
}

void Engine::on_forward_response(std::string_view peer, uint64_t id,
                                 proto::ForwardResponse response, Instant now) {
  forwarder_.on_response(forward_name(peer), id, std::move(response), now);
  collect(now);
}

void Engine::on_link_failed(std::string_view peer, const std::string& why, Instant now) {
  forwarder_.on_link_failed(forward_name(peer), why, now);
  collect(now);
}

void Engine::on_forward_request(proto::ForwardRequest request, Instant received, Instant now,
                                Forwarder::Answer answer) {
  forwarder_.serve(std::move(request), core_.leaving() || draining_ || core_.displaced(), received,
                   now, std::move(answer));
  collect(now);
}

void Engine::on_job_done(uint64_t job, HandlerOutcome outcome, Instant now) {
  forwarder_.on_job_done(job, std::move(outcome), now);
  collect(now);
}

void Engine::forward_all(std::vector<std::string> keys, std::string payload, ForwardOptions options,
                         Forwarder::DoneAll done, Instant now) {
  forwarder_.forward_all(std::move(keys), std::move(payload), std::move(options), std::move(done),
                         now);
  collect(now);
}

void Engine::request(std::string member, std::string payload, ForwardOptions options,
                     Forwarder::Done done, Instant now) {
  forwarder_.request(std::move(member), {}, -1, std::move(payload), std::move(options),
                     std::move(done), now);
  collect(now);
}

void Engine::replicate(std::string key, std::string payload, ReplicaOptions options,
                       Forwarder::DoneReplicas done, Instant now) {
  forwarder_.replicate(std::move(key), std::move(payload), std::move(options), std::move(done),
                       now);
  collect(now);
}

void Engine::forward(std::string key, std::string payload, ForwardOptions options,
                     Forwarder::Done done, Instant now) {
  forwarder_.forward(std::move(key), std::move(payload), options, std::move(done), now);
  collect(now);
}

void Engine::tick(Instant now) {
  if (core_.next_deadline() <= now) core_.tick(now);
  collect(now);  // the core's events reach the ring feed before it publishes
  if (ring_.next_deadline() <= now) {
    if (ring_.checksum_only()) ring_.tick_checksum(now, core_);
    if (auto change = ring_.tick(now)) ring_changes_.push_back(std::move(*change));
  }
  if (forwarder_.next_deadline() <= now) forwarder_.tick(now);
  collect(now);
}

Instant Engine::next_deadline() const {
  return std::min(next_protocol_deadline(), next_forward_deadline());
}

Instant Engine::next_protocol_deadline() const {
  return std::min(core_.next_deadline(), ring_.next_deadline());
}

void Engine::shutdown() { forwarder_.shutdown(); }

std::string Engine::broadcast(std::string name, std::string payload, Instant now) {
  std::string why = core_.broadcast(std::move(name), std::move(payload));
  collect(now);
  return why;
}

std::string Engine::event(std::string name, std::string payload, bool coalesce, Instant now) {
  std::string why = core_.event(std::move(name), std::move(payload), coalesce, now);
  collect(now);
  return why;
}

std::string Engine::query(QuerySpec spec, QueryCallback callback, Instant now, uint64_t& id) {
  std::string why = core_.query(std::move(spec), now, id);
  if (why.empty()) app_.track(id, std::move(callback));
  collect(now);
  return why;
}

std::string Engine::answer_query(uint64_t id, std::string payload, Instant now) {
  std::string why = core_.answer_query(id, std::move(payload), now);
  collect(now);
  return why;
}

void Engine::collect(Instant now) {
  // A node that lost its name stops forwarding and serving: every call
  // ends (shutting_down), and the ring's owner of its keys is the winner.
  if (core_.displaced() && !forwarder_shut_) {
    forwarder_shut_ = true;
    forwarder_.shutdown();
  }
  // First: a delivered query's answer is a datagram.
  for (auto& o : core_.take_app()) app_.on_output(std::move(o), core_, now);
  for (auto& d : core_.take_datagrams()) {
    std::string bytes = seal_->datagram(d.to, d.message);
    datagrams_.push_back({std::move(d.to), std::move(bytes)});
  }
  for (auto& x : core_.take_exchanges()) {
    // Sent at the highest version both sides speak: a peer that has not
    // said it decodes Ping frames (minor 1) gets no fallback probe; the
    // exchange fails at once, as if unanswered.
    if (std::holds_alternative<membership::Ping>(x.request) &&
        minor_of(x.to) < membership::kMinorTcpPing) {
      core_.on_tcp_failure(x.id, now);
      continue;
    }
    const bool compress = minor_of(x.to) >= membership::kMinorCompression;
    exchanges_.push_back(
        {x.id, std::move(x.to), proto::to_frame_body(std::move(x.request)), compress});
  }
  for (auto& e : core_.take_events()) {
    ring_.on_event(e, now);
    ++event_seq_;
    if (!options_.no_event_log) {
      if (event_log_.size() >= kEventLogMax) event_log_.pop_front();
      event_log_.push_back({event_seq_, e});
    }
    events_.push_back(std::move(e));
  }
}

void Engine::note_minor(std::string_view from, uint32_t minor) {
  auto it = peer_minors_.find(from);
  if (it != peer_minors_.end()) {
    it->second = minor;
    return;
  }
  // Bounded: a flood of sources forgets the oldest knowledge, not memory.
  if (peer_minors_.size() >= kPeerMinorsMax) peer_minors_.clear();
  peer_minors_.emplace(std::string(from), minor);
}

uint32_t Engine::minor_of(std::string_view peer) const {
  auto it = peer_minors_.find(peer);
  return it == peer_minors_.end() ? 0 : it->second;
}

NodeStats Engine::stats(const NodeCounters& transport) const {
  NodeStats s = empty_node_stats();
#define SHOAL_ENGINE_COPY(name, help) s.name = transport.name;
  SHOAL_NODE_COUNTERS(SHOAL_ENGINE_COPY)
#undef SHOAL_ENGINE_COPY
#define SHOAL_ENGINE_COPY(name, help) s.name = forwarder_.stats().name;
  SHOAL_FORWARD_COUNTERS(SHOAL_ENGINE_COPY)
#undef SHOAL_ENGINE_COPY
  for (int e = 1; e < proto::kDecodeErrorCount; ++e) {
    s.drops[std::string(proto::to_string(static_cast<proto::DecodeError>(e)))] =
        drops_[static_cast<size_t>(e)];
  }
  for (const auto& m : core_.members()) ++s.members[std::string(to_string(m.status))];
  s.protocol = core_.stats();
  s.health_score = static_cast<uint64_t>(core_.health_score());
  s.pending_changes = core_.pending_changes();
  s.ring_members = ring_.member_count();
  for (size_t i = 0; i < std::size(kForwardErrors); ++i) {
    if (kForwardErrors[i] == ForwardError::kNotOwner) continue;  // a wire answer, never a result
    s.forward_duration[std::string(to_string(kForwardErrors[i]))] = forwarder_.durations()[i];
  }
  return s;
}

}  // namespace shoal::node
