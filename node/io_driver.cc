// Copyright shoal authors. The io driver: binds the sockets, builds the
// engine, runs the io thread, and carries the engine's outputs to the
// transports after every input (pump), re-arming its timers. The driver
// contract it follows is engine.h's.

#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <random>

#include "shoal/node/host_port.h"
#include "shoal/node/node_impl.h"
#include "shoal/node/process_metrics.h"

namespace shoal::node {

using asio::ip::tcp;
using asio::ip::udp;
using membership::Instant;

namespace {

uint64_t wall_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// The IP address to bind for `host` (an IP literal, or a name such as
// "localhost"); nullopt if it does not resolve.
std::optional<asio::ip::address> bind_address(asio::io_context& io, const std::string& host) {
  asio::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (!ec) return ip;
  udp::resolver resolver(io);
  auto results = resolver.resolve(host, "0", ec);
  if (ec || results.empty()) return std::nullopt;
  return results.begin()->endpoint().address();
}

// The node's seal; plaintext if the options are inconsistent (start()
// refuses those before anything is sent).
std::shared_ptr<Seal> make_seal(const NodeOptions& o) {
  if (o.encryption == Encryption::kOff || o.keyring.empty()) {
    return std::make_shared<Seal>(o.cluster, Encryption::kOff);
  }
  return std::make_shared<Seal>(o.cluster, o.encryption, o.keyring);
}

// "name" for a default name, "name (address)" for a named member.
std::string member_label(const MemberEvent& e) {
  return e.address.empty() || e.address == e.name ? e.name : e.name + " (" + e.address + ")";
}

}  // namespace

Node::Impl::Impl(NodeOptions o)
    : opts(std::move(o)),
      log(opts.logger),
      seal(make_seal(opts)),
      tcp(io,
          {seal, opts.frame_bytes_max, opts.tcp_idle_timeout, opts.tcp_read_timeout,
           opts.tcp_connections_max},
          counters, *this),
      links(io, client_options(), endpoints, *this),
      metrics(io, {[this] { return render_prometheus(stats_now()) + render_process_metrics(); },
                   [this] { return readiness(); },
                   [this](std::string_view target) {
                     std::pair<std::string, std::string> r;
                     if (ui) r = ui->serve(target, mono_now());
                     pump();  // the views it asked peers for go out
                     return r;
                   }}) {
  log.set_name(opts.name.empty() ? opts.listen : opts.name);
}

TcpClientOptions Node::Impl::client_options() {
  TcpClientOptions c;
  c.seal = seal;
  c.frame_bytes_max = opts.frame_bytes_max;
  c.exchange_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(opts.protocol.tcp_timeout);
  c.connect_timeout = opts.tcp_read_timeout;
  c.read_timeout = opts.tcp_read_timeout;
  c.on_too_big = [this](size_t bytes) {
    ++counters.tcp_frames_too_big;
    log.error(
        "a request of {} bytes is over frame_bytes_max ({}): not sent (a membership table "
        "that large needs a higher --frame-bytes-max)",
        bytes, opts.frame_bytes_max);
  };
  return c;
}

// Binds TCP, UDP (same port) and metrics; sets `advertised`.
Error Node::Impl::bind() {
  auto listen = *parse_host_port(opts.listen, nullptr, /*allow_port_zero=*/true);
  auto ip = bind_address(io, listen.host);
  auto failed = [](std::string why) { return Error{ErrorCode::kBindFailed, std::move(why)}; };
  if (!ip) return failed("listen: cannot resolve '" + listen.host + "'");
  // TCP first: with port 0 the kernel picks the port, and UDP takes the same.
  if (auto err = tcp.open(tcp::endpoint(*ip, listen.port)); !err.empty()) {
    return failed("listen " + opts.listen + " (tcp): " + err);
  }
  const uint16_t port = tcp.port();
  listen_v6 = ip->is_v6();
  if (auto err = udp.open(udp::endpoint(*ip, port)); !err.empty()) {
    return failed("listen " + opts.listen + " (udp): " + err);
  }
  if (!opts.metrics_listen.empty()) {
    if (auto err = metrics.open(opts.metrics_listen); !err.empty()) {
      return failed("metrics " + opts.metrics_listen + ": " + err);
    }
  }
  if (opts.advertise.empty()) {
    listen.port = port;
    advertised = listen.to_string();
  } else {
    advertised = opts.advertise;
  }
  log.set_name(opts.name.empty() ? advertised : opts.name);
  return {};
}

void Node::Impl::make_engine() {
  uint64_t seed = opts.rng_seed;
  if (seed == 0) {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) | rd();
  }
  EngineOptions eo;
  static_cast<membership::Tuning&>(eo.protocol) = opts.protocol;
  eo.protocol.address = advertised;
  eo.protocol.name = opts.name;
  eo.protocol.cluster = opts.cluster;
  eo.protocol.labels = opts.labels;
  eo.protocol.incarnation = wall_ms();
  eo.replica_points = opts.replica_points;
  eo.frame_bytes_max = opts.frame_bytes_max;
  eo.forward = {opts.forward_inflight_max, opts.breaker_failures, opts.breaker_open};
  eo.seal = seal;
  eo.ring_publisher = &ring_publisher;
  eo.admit = opts.admit;
  eo.app_state = {opts.app_state, opts.merge_app_state};
  eo.on_name_conflict = [this](const membership::NameConflict& c) {
    log.warn("name conflict: member {} (at {}) claimed at {}{}", c.name, c.known_address,
             c.other_address, c.self ? " (this node's name: checking who holds it)" : "");
    listeners.guarded(opts.on_name_conflict, c.name, c.known_address, c.other_address, c.self);
  };
  log.info("shoal node {} (cluster '{}', incarnation {}, rng seed {}, encryption {}{})", advertised,
           opts.cluster, eo.protocol.incarnation, seed, to_string(seal->mode()),
           seal->mode() == Encryption::kOff
               ? ""
               : ", primary key " + key_id_hex(seal->keyring().primary_id()));
  engine = std::make_unique<Engine>(std::move(eo), seed, mono_now());
  for (const auto& [name, handler] : query_handlers) (void)engine->set_query_handler(name, handler);
  if (opts.handler_threads > 0) relief.start(opts.io_relief_after);
  handlers.start(
      opts.handler_threads, opts.handler_queue_max, [this] { take_answers(); }, &relief);
  engine->forwarder().on_breaker_open([this](std::string_view peer, uint32_t failures) {
    log.warn("circuit to {} open after {} failures", peer, failures);
  });
  seeds.configure(listen_v6,
                  [this](std::vector<std::string> addresses) { engine->set_seeds(addresses); });
  ui = std::make_unique<Ui>(*engine);
  // Every node tells its view to the pages of others (ui.h): on the io
  // thread, which owns the member table.
  handlers.set_handler(kViewEndpoint, [this](Request, Reply reply) {
    asio::post(io, [this, reply = std::move(reply)] { reply.ok(ui->own_view()); });
  });
  admin = std::make_unique<Admin>(
      *engine, Admin::Hooks{mono_now, [this] { begin_leave(opts.leave_timeout); },
                            [this] { return stats_now(); },
                            [this](const Keyring& ring) { return save_keyring(ring); },
                            [this] { return log.level(); },
                            [this](const std::string& level) { return log.set_level(level); }});
}

// The io loop. An exception that escapes one handler (bad_alloc while
// decoding one message, say) ends that handler, not the node: it is
// counted and logged, and the loop resumes (Asio allows run() again).
// With a relief (io_relief.h), one completion at a time: after one whose
// inline run the relief took over, this thread waits for the loop back.
void Node::Impl::run_io() {
  relief.set_owner();
  for (;;) {
    try {
      if (!relief.enabled()) {
        io.run();
        return;
      }
      for (;;) {
        if (relief.taken()) relief.take_back();
        if (io.run_one() == 0) return;
        // The jobs of that completion, right after it: between completions
        // is where the relief may take the loop over safely. After the
        // shutdown none run (the forwarder answered them).
        if (!io.stopped() && !relief.taken()) handlers.flush(true);
      }
    } catch (const std::exception& e) {
      ++counters.io_exceptions;
      log.error("io thread: a handler threw: {}; carrying on", e.what());
    } catch (...) {
      ++counters.io_exceptions;
      log.error("io thread: a handler threw; carrying on");
    }
  }
}

void Node::Impl::start_thread() {
  std::promise<void> began;
  auto began_f = began.get_future();
  thread = std::thread([this, &began] {
    {
      std::lock_guard lock(state_mu);
      io_thread_id = std::this_thread::get_id();
      running = true;
    }
    began.set_value();
    run_io();
    std::lock_guard lock(state_mu);
    io_thread_id = {};  // a later thread may get the same id
    running = false;
    stopped = true;
    stopped_cv.notify_all();
  });
  began_f.wait();
}

bool Node::Impl::on_io_thread() const {
  std::lock_guard lock(state_mu);
  return io_thread_here();
}

bool Node::Impl::io_thread_here() const {
  return running && std::this_thread::get_id() == io_thread_id && !IoRelief::inline_here();
}

bool Node::Impl::future_form_refused() {
  IoRelief::hurry_current();
  return on_io_thread();
}

// On the io thread: /ready's answer.
std::pair<bool, std::string> Node::Impl::readiness() const {
  const auto& core = engine->core();
  const bool joined = ready && core.joined();
  const bool agrees = core.agrees_with_peers(mono_now());
  const bool draining = engine->draining() || core.leaving();
  const bool ok = joined && agrees && !draining && !core.displaced();
  auto flag = [](bool b) { return b ? "true" : "false"; };
  std::string body = std::string("{\"ready\":") + flag(ok) + ",\"joined\":" + flag(joined) +
                     ",\"agrees_with_peers\":" + flag(agrees) + ",\"draining\":" + flag(draining) +
                     ",\"displaced\":" + flag(core.displaced()) + ",\"ring_members\":" +
                     std::to_string(engine->ring().current()->member_count()) + "}\n";
  return {ok, std::move(body)};
}

NodeStats Node::Impl::stats_now() const {
  NodeStats s = engine ? engine->stats(counters) : empty_node_stats();
  s.handler_duration = handlers.handler_duration();
  s.handler_queue_wait = handlers.queue_wait();
  return s;
}

bool Node::Impl::with_engine(std::function<void()> call) {
  {
    std::lock_guard lock(state_mu);
    if (!running) return false;
    if (!io_thread_here()) {
      // Posted under the lock: the io thread's end sets running = false
      // under it too, so this lands before that end, and stop()'s final
      // poll runs it if the thread does not. Posted after the unlock, it
      // could land after that poll and never run (a request's future
      // that never completes: a kv-server's shutdown hung on one).
      asio::post(io, [this, call = std::move(call)] {
        call();
        pump();
      });
      return true;
    }
  }
  call();
  pump();
  return true;
}

void Node::Impl::log_drop(proto::DecodeError error, const std::string& detail,
                          const std::string& from) {
  const std::string reason(proto::to_string(error));
  if (!log.due(reason)) return;
  log.warn("dropped from {}: {} ({}); {} dropped for this reason so far", from, reason, detail,
           engine->drops(error));
}

uint64_t Node::Impl::seed_attempts() const {
  const auto& st = engine->core().stats();
  return st.joins_sent + st.heals_sent;
}

// ---- the engine's outputs ----
void Node::Impl::pump() {
  for (auto& d : engine->take_datagrams()) udp.send(d.to, d.bytes);
  for (auto& x : engine->take_exchanges()) exchange(std::move(x));
  for (auto& f : engine->take_forwards()) links.send(f.peer, f.id, f.request);
  handlers.dispatch(engine->take_jobs(), advertised);
  seeds.poll(seed_attempts());
  if (!ready && engine->core().joined()) {
    ready = true;
    ready_promise.set_value();
  }
  for (const MemberEvent& e : engine->take_events()) report(e);
  for (const AppMessage& m : engine->take_app_deliveries()) listeners.notify_app(m);
  if (engine->core().displaced() && !displaced_logged) {
    displaced_logged = true;
    log.error(
        "name conflict: the process at {} holds this member's name '{}' and outranks it; this "
        "node takes no further part in the cluster (restart it under another --name)",
        engine->core().displaced_by(), engine->name());
  }
  for (auto& change : engine->take_ring_changes()) {
    log.debug("ring: {} members, checksum {:016x}", change.after->member_count(),
              change.after->checksum());
    listeners.notify_ring(change);
  }
  arm_timers();
}

// Handler answers, taken in one batch per wake-up of the io thread.
void Node::Impl::take_answers() {
  auto batch = handlers.take();
  if (batch.empty()) return;
  const Instant now = mono_now();
  for (auto& [job, outcome] : batch) engine->on_job_done(job, std::move(outcome), now);
  pump();
}

void Node::Impl::report(const MemberEvent& e) {
  if (log.member_line_due(opts.member_log_per_second)) {
    const std::string old = e.old_status ? std::string(to_string(*e.old_status)) : "new";
    const std::string status = e.forgotten ? "forgotten" : std::string(to_string(e.status));
    const LogFields fields{{"member", e.name},
                           {"address", e.address},
                           {"from_status", old},
                           {"status", status},
                           {"incarnation", std::to_string(e.incarnation)},
                           {"source", e.source}};
    log.event(spdlog::level::info, "member", fields,
              e.forgotten ? fmt::format("member {} forgotten", member_label(e))
                          : fmt::format("member {} {} -> {} inc {} (from {})", member_label(e), old,
                                        status, e.incarnation, e.source));
  }
  listeners.notify_member(e);
}

// Two timers. The protocol's (membership core, ring feed) is re-armed
// whenever its deadline moves: re-arming lazily, only for earlier
// deadlines, cost an idle node a wasted wake-up per probe period (an ack
// moves the deadline from the ping timeout to the period's end: 35% more
// CPU for an idle 100-node cluster in scripts/bench_cluster.py). The
// forwarder's is re-armed only for an earlier deadline: each request in
// flight moves its deadline, and a re-arm per request cost a fifth of the
// forwarding throughput; when it fires early, nothing is due and it is
// armed again for the real next deadline.
void Node::Impl::arm_timers() {
  arm(protocol_timer, protocol_timer_at, engine->next_protocol_deadline(), /*lazy=*/false);
  arm(forward_timer, forward_timer_at, engine->next_forward_deadline(), /*lazy=*/true);
}

void Node::Impl::arm(asio::steady_timer& t, Instant& armed_at, Instant next, bool lazy) {
  if (next == armed_at || (lazy && next > armed_at)) return;
  armed_at = next;
  if (next == membership::kNever) {
    t.cancel();
    return;
  }
  t.expires_at(to_steady(next));
  t.async_wait([this, &armed_at, next](const asio::error_code& ec) {
    if (ec || armed_at != next) return;  // cancelled or superseded
    armed_at = membership::kNever;
    // The driver contract: every input that arrived by now first (the
    // ack being waited for may be last in the queue).
    udp.drain(65536);
    engine->tick(mono_now());
    pump();
  });
}

// A join or sync exchange, to a member or to a seed given by name.
void Node::Impl::exchange(Engine::Exchange x) {
  auto done = [this, id = x.id, to = x.to](bool ok, std::string_view answer, SealWith opened) {
    bool answered = false;
    if (ok) {
      auto decoded = engine->decode_frame(answer, opened);
      if (decoded.ok()) engine->note_minor(to, decoded.minor);
      if (decoded.ok() && decoded.compressed) ++counters.tables_compressed_in;
      answered = decoded.ok() && engine->on_exchange_response(id, decoded.value->body, mono_now());
    }
    if (!answered) {
      ++counters.exchanges_failed;
      engine->on_exchange_failed(id, mono_now());
    }
    pump();
  };
  start_exchange_to(io, client_options(), endpoints, x.to, listen_v6, x.id, x.request, x.compress,
                    std::move(done));
}

}  // namespace shoal::node
