// Copyright shoal authors. The node: the engine (engine.h) on Asio, wired
// to its transports, and the public API (node.h).
//
// One io thread runs everything below. Inputs go into the engine; pump()
// then hands its outputs to the transports and re-arms the one timer:
//
//   UdpTransport --datagram--> Engine.on_datagram --.
//   TcpServer ----frame------> Engine.on_request ---+   pump(): datagrams -> UdpTransport
//                `--admin----> Admin               |           exchanges -> start_exchange
//   PeerLinks ----answer-----> Engine.on_forward_..-+           forwards  -> PeerLinks
//   timer (next_deadline) ---> drain UDP, tick -----'           events    -> log, callbacks
//                                                               timer re-armed
//
// Files: udp_transport (UDP), frame_conn (framed TCP), tcp_server
// (accepted connections), tcp_client (exchanges, forwarding links),
// forwarder (retries, breaker), ring_feed (ring publication), admin (CLI
// commands), metrics_http (/metrics), counters (the counters table).

#include "shoal/node/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "shoal/node/address.h"
#include "shoal/node/admin.h"
#include "shoal/node/endpoints.h"
#include "shoal/node/engine.h"
#include "shoal/node/handler_pool.h"
#include "shoal/node/metrics_http.h"
#include "shoal/node/tcp_client.h"
#include "shoal/node/tcp_server.h"
#include "shoal/node/udp_transport.h"

namespace shoal::node {

using asio::ip::tcp;
using asio::ip::udp;
using membership::Instant;
using membership::MemberEvent;
using std::chrono::steady_clock;

namespace {

Instant mono_now() { return Instant(steady_clock::now().time_since_epoch()); }

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

// "ip" of a TCP peer "ip:port" (IPv6 without brackets).
std::string peer_ip(const std::string& peer) { return peer.substr(0, peer.rfind(':')); }

// "name" for a default name, "name (address)" for a named member.
std::string member_label(const MemberEvent& e) {
  return e.address.empty() || e.address == e.name ? e.name : e.name + " (" + e.address + ")";
}

bool is_loopback_peer(const std::string& peer) {
  asio::error_code ec;
  auto ip = asio::ip::make_address(peer_ip(peer), ec);
  if (ec) return false;
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6()).is_loopback();
  }
  return ip.is_loopback();
}

}  // namespace

// ------------------------------------------------------------------ Impl

class Node::Impl final : public TcpServer::Delegate, public PeerLinks::Delegate {
 public:
  explicit Impl(NodeOptions o)
      : opts(std::move(o)),
        seal(make_seal(opts)),
        tcp(io,
            {seal, opts.frame_bytes_max, opts.tcp_idle_timeout, opts.tcp_read_timeout,
             opts.tcp_connections_max},
            counters, *this),
        links(io, client_options(), endpoints, *this),
        metrics(io, {[this] { return render_prometheus(stats_now()); },
                     [this] { return readiness(); }}) {}

  NodeOptions opts;
  std::shared_ptr<Seal> seal;  // the engine's, shared with every TCP connection
  asio::io_context io;
  NodeCounters counters;  // transports' (the engine keeps the rest)
  EndpointCache endpoints;
  UdpTransport udp{io, counters, endpoints};
  TcpServer tcp;
  AnswerSlots full_state_answers{opts.full_syncs_max};
  PeerLinks links;
  MetricsServer metrics;
  std::unique_ptr<Engine> engine;  // from start()
  std::unique_ptr<Admin> admin;
  asio::steady_timer protocol_timer{io};
  Instant protocol_timer_at = membership::kNever;
  asio::steady_timer forward_timer{io};
  Instant forward_timer_at = membership::kNever;
  asio::steady_timer leave_timer{io};
  std::string advertised;
  bool listen_v6 = false;
  std::thread thread;
  std::thread::id io_thread_id;

  // The application's handler (any thread may set it) and its executor.
  std::mutex handler_mu;
  std::shared_ptr<const AsyncHandler> handler;  // guarded by handler_mu
  std::unique_ptr<HandlerPool> pool;            // null: handlers on the io thread
  // Handler answers reach the io thread through this: queued, and one
  // posted drain takes every answer queued meanwhile (under load, one
  // wake-up of the io thread for many answers). Closed (impl nullptr) when
  // the node goes, so a late answer reaches nothing.
  struct Gate {
    std::mutex mu;
    Impl* impl = nullptr;
    std::vector<std::pair<uint64_t, HandlerOutcome>> outcomes;
    bool drain_posted = false;
    // The io thread is running handlers inline (handler_threads 0) and
    // takes the answers right after: no post needed.
    bool inline_run = false;
  };
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  // Listeners: copied on write under listeners_mu; the io thread takes the
  // current list once per pump.
  struct Listeners {
    struct Member {
      uint64_t id;
      std::function<void(const MemberEvent&)> callback;
      Node::Executor executor;
    };
    struct Ring {
      uint64_t id;
      std::function<void(const RingChange&)> callback;
      Node::Executor executor;
    };
    std::vector<Member> member;
    std::vector<Ring> ring;
  };
  std::mutex listeners_mu;
  std::shared_ptr<const Listeners> listeners = std::make_shared<Listeners>();
  uint64_t next_listener = 1;  // guarded by listeners_mu
  std::shared_ptr<const Listeners> current_listeners() {
    std::lock_guard lock(listeners_mu);
    return listeners;
  }
  template <class F>
  uint64_t change_listeners(F&& change) {
    std::lock_guard lock(listeners_mu);
    auto next = std::make_shared<Listeners>(*listeners);
    const uint64_t id = next_listener++;
    change(*next, id);
    listeners = std::move(next);
    return id;
  }
  // Runs a listener: through its executor, or here, guarded.
  template <class F, class Arg>
  void notify(F& callback, const Node::Executor& executor, const Arg& arg) {
    if (!executor) return guarded(callback, arg);
    try {
      executor([callback, arg] {
        try {
          callback(arg);
        } catch (...) {
          spdlog::error("a listener run by its executor threw");
        }
      });
    } catch (...) {
      ++counters.callback_errors;
      spdlog::error("a listener's executor threw");
    }
  }
  struct LeaveHooks {
    std::function<void()> before, after;
  };
  std::vector<LeaveHooks> leave_hooks;
  // Ready: joined (or alone by configuration); set once, on the io thread.
  std::promise<void> ready_promise;
  std::shared_future<void> ready_future = ready_promise.get_future().share();
  bool ready = false;
  bool displaced_logged = false;

  std::mutex state_mu;
  std::condition_variable stopped_cv;
  bool running = false;  // guarded by state_mu
  bool stopped = false;  // guarded by state_mu

  // Admin frames carry small JSON arguments.
  static constexpr size_t kAdminFrameMax = 64 * 1024;

  // Rate limit for "dropped" log lines: one per reason per second.
  std::map<std::string, steady_clock::time_point> drop_logged;
  steady_clock::time_point member_log_window{};
  uint32_t member_log_lines = 0;
  uint64_t member_log_skipped = 0;

  TcpClientOptions client_options() const {
    TcpClientOptions c;
    c.seal = seal;
    c.frame_bytes_max = opts.frame_bytes_max;
    c.exchange_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(opts.protocol.tcp_timeout);
    c.connect_timeout = opts.tcp_read_timeout;
    c.read_timeout = opts.tcp_read_timeout;
    return c;
  }

  // On the io thread: /ready's answer.
  std::pair<bool, std::string> readiness() const {
    const auto& core = engine->core();
    const bool joined = ready && core.joined();
    const bool agrees = core.agrees_with_peers(mono_now());
    const bool draining = engine->draining() || core.leaving();
    const bool ok = joined && agrees && !draining && !core.displaced();
    std::string body =
        std::string("{\"ready\":") + (ok ? "true" : "false") +
        ",\"joined\":" + (joined ? "true" : "false") +
        ",\"agrees_with_peers\":" + (agrees ? "true" : "false") +
        ",\"draining\":" + (draining ? "true" : "false") +
        ",\"displaced\":" + (core.displaced() ? "true" : "false") +
        ",\"ring_members\":" + std::to_string(engine->ring().current()->member_count()) + "}\n";
    return {ok, std::move(body)};
  }

  NodeStats stats_now() const {
    if (!engine) return empty_node_stats();
    return engine->stats(counters);
  }

  // Runs `call` (which uses the engine) on the io thread, then pumps: at
  // once if called there, else posted. false if the node is not running.
  // (A node that stops after the check still runs what was posted, once,
  // in stop(): the forwarder has shut down by then and answers so.)
  bool with_engine(std::function<void()> call) {
    std::unique_lock lock(state_mu);
    if (!running) return false;
    const bool here = std::this_thread::get_id() == io_thread_id;
    lock.unlock();
    if (here) {
      call();
      pump();
    } else {
      asio::post(io, [this, call = std::move(call)] {
        call();
        pump();
      });
    }
    return true;
  }

  // Runs f on the io thread and waits; directly if already there or if the
  // io thread is not running.
  template <class F>
  auto on_io(F&& f) -> decltype(f()) {
    {
      std::lock_guard lock(state_mu);
      if (!running || std::this_thread::get_id() == io_thread_id) return f();
    }
    std::packaged_task<decltype(f())()> task(std::forward<F>(f));
    auto fut = task.get_future();
    asio::post(io, [&task] { task(); });
    // Bounded wait: if the io thread ends before running the task (a leave
    // completing concurrently), run it here: the state is quiescent then.
    while (fut.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      std::lock_guard lock(state_mu);
      if (stopped && fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        task();
        break;
      }
    }
    return fut.get();
  }

  // At most one line per reason per second.
  bool log_due(const std::string& reason) {
    const auto now = steady_clock::now();
    auto& last = drop_logged[reason];
    if (now - last < std::chrono::seconds(1)) return false;
    last = now;
    return true;
  }

  void log_drop(proto::DecodeError error, const std::string& detail, const std::string& from) {
    const std::string reason(proto::to_string(error));
    if (!log_due(reason)) return;
    spdlog::warn("dropped from {}: {} ({}); {} dropped for this reason so far", from, reason,
                 detail, engine->drops(error));
  }

  // ---- the engine's outputs ----
  void pump() {
    for (auto& d : engine->take_datagrams()) udp.send(d.to, d.bytes);
    for (auto& x : engine->take_exchanges()) exchange(std::move(x));
    for (auto& f : engine->take_forwards()) links.send(f.peer, f.id, f.request);
    dispatch(engine->take_jobs());
    if (!name_seeds.empty() && !resolving && seed_attempts() != resolved_for) resolve_seeds();
    if (!ready && engine->core().joined()) {
      ready = true;
      ready_promise.set_value();
    }
    auto events = engine->take_events();
    for (const MemberEvent& e : events) report(e);
    if (engine->core().displaced() && !displaced_logged) {
      displaced_logged = true;
      spdlog::error(
          "name conflict: the process at {} holds this member's name '{}' and outranks it; this "
          "node takes no further part in the cluster (restart it under another --name)",
          engine->core().displaced_by(), engine->name());
    }
    for (auto& change : engine->take_ring_changes()) {
      spdlog::debug("ring: {} members, checksum {:016x}", change.after->member_count(),
                    change.after->checksum());
      const auto ls = current_listeners();
      for (const auto& l : ls->ring) notify(l.callback, l.executor, change);
    }
    arm_timer();
  }

  // ---- seeds given by DNS name ----
  // A seed named by DNS ("shoal.prod.svc:7946", a headless service) stands
  // for every A/AAAA record of the name (of this node's address family).
  // The names are resolved by Asio's resolver thread, never the io thread:
  // at the start and again whenever the core has made a join or heal
  // attempt since (so on every attempt while alone or cut off), and the
  // core gets the addresses (Membership::set_seeds). A name that failed to
  // resolve is not asked again for kSeedFailureCache; until it resolves the
  // core keeps the name itself, which an exchange resolves when it dials.
  static constexpr auto kSeedFailureCache = std::chrono::seconds(5);
  struct NameSeed {
    std::vector<std::string> addresses;    // its records, last time
    steady_clock::time_point failed_at{};  // last failure, if any
  };
  std::vector<std::string> seed_specs;  // as given
  std::map<std::string, NameSeed> name_seeds;
  bool resolving = false;
  uint64_t resolved_for = 0;  // seed_attempts() when resolution last began

  uint64_t seed_attempts() const {
    const auto& st = engine->core().stats();
    return st.joins_sent + st.heals_sent;
  }

  static bool is_ip_seed(const std::string& seed) {
    auto hp = parse_host_port(seed);
    asio::error_code ec;
    if (hp) (void)asio::ip::make_address(hp->host, ec);
    return hp && !ec;
  }

  void set_seed_specs(const std::vector<std::string>& specs) {
    seed_specs = specs;
    name_seeds.clear();
    for (const std::string& s : specs) {
      if (!is_ip_seed(s) && parse_host_port(s)) name_seeds.try_emplace(s);
    }
    if (!name_seeds.empty() && !resolving) resolve_seeds();
  }

  void resolve_seeds() {
    resolving = true;
    resolved_for = seed_attempts();
    auto pending = std::make_shared<size_t>(1);  // one for this loop
    const auto now = steady_clock::now();
    for (auto& [name, seed] : name_seeds) {
      if (seed.failed_at != steady_clock::time_point{} &&
          now - seed.failed_at < kSeedFailureCache) {
        continue;
      }
      auto hp = *parse_host_port(name);
      auto resolver = std::make_shared<tcp::resolver>(io);
      ++*pending;
      resolver->async_resolve(
          hp.host, std::to_string(hp.port),
          [this, resolver, name = name, pending](const asio::error_code& ec,
                                                 const tcp::resolver::results_type& results) {
            seed_resolved(name, ec, results);
            if (--*pending == 0) seeds_resolved();
          });
    }
    if (--*pending == 0) seeds_resolved();
  }

  void seed_resolved(const std::string& name, const asio::error_code& ec,
                     const tcp::resolver::results_type& results) {
    auto it = name_seeds.find(name);
    if (it == name_seeds.end()) return;  // the seeds changed meanwhile
    std::vector<std::string> addresses;
    for (const auto& r : results) {
      if (r.endpoint().address().is_v6() != listen_v6) continue;  // unreachable from here
      HostPort hp{r.endpoint().address().to_string(), r.endpoint().port(), listen_v6};
      if (std::find(addresses.begin(), addresses.end(), hp.to_string()) == addresses.end()) {
        addresses.push_back(hp.to_string());
      }
    }
    if (ec || addresses.empty()) {
      it->second.failed_at = steady_clock::now();
      if (log_due("seed_resolve")) {
        spdlog::warn("seed {}: {}", name,
                     ec ? ec.message() : "no address of this node's family (IPv4/IPv6)");
      }
      return;
    }
    if (addresses != it->second.addresses) {
      std::string list;
      for (const std::string& a : addresses) list += (list.empty() ? "" : ", ") + a;
      spdlog::info("seed {} is {} address(es): {}", name, addresses.size(), list);
    }
    it->second.addresses = std::move(addresses);
    it->second.failed_at = {};
  }

  // Every seed as an address: IP seeds as given, names as their records
  // (or as the name, while it has none).
  void seeds_resolved() {
    resolving = false;
    std::vector<std::string> out;
    for (const std::string& s : seed_specs) {
      auto it = name_seeds.find(s);
      if (it == name_seeds.end() || it->second.addresses.empty()) {
        out.push_back(s);
      } else {
        out.insert(out.end(), it->second.addresses.begin(), it->second.addresses.end());
      }
    }
    engine->set_seeds(out);
  }

  // ---- the handler executor ----
  // The outcome of handler run `job`, from whichever thread, to the engine.
  Reply::Deliver deliver_to_io(uint64_t job) {
    return [gate = gate, job](HandlerOutcome outcome) {
      std::lock_guard lock(gate->mu);
      Impl* d = gate->impl;
      if (d == nullptr) return;
      gate->outcomes.emplace_back(job, std::move(outcome));
      if (gate->drain_posted || gate->inline_run) return;
      gate->drain_posted = true;
      asio::post(d->io, [d] { d->take_outcomes(); });
    };
  }

  // Handlers on the io thread (handler_threads 0): their answers are taken
  // at once, without a trip through the io queue.
  void run_inline(std::vector<std::function<void()>>& tasks) {
    {
      std::lock_guard lock(gate->mu);
      gate->inline_run = true;
    }
    for (auto& task : tasks) task();
    {
      std::lock_guard lock(gate->mu);
      gate->inline_run = false;
    }
    take_outcomes();
  }

  void take_outcomes() {
    std::vector<std::pair<uint64_t, HandlerOutcome>> batch;
    {
      std::lock_guard lock(gate->mu);
      batch.swap(gate->outcomes);
      gate->drain_posted = false;
    }
    if (batch.empty()) return;
    const Instant now = mono_now();
    for (auto& [job, outcome] : batch) engine->on_job_done(job, std::move(outcome), now);
    pump();
  }

  // Runs the application's handler on each job: on the pool (queued
  // together), or (no pool) here on the io thread; the answers reach the
  // engine through the gate, never inside the engine call that made a job.
  void dispatch(std::vector<HandlerJob> jobs) {
    if (jobs.empty()) return;
    std::shared_ptr<const AsyncHandler> h;
    {
      std::lock_guard lock(handler_mu);
      h = handler;
    }
    std::vector<std::function<void()>> tasks;
    tasks.reserve(jobs.size());
    for (HandlerJob& job : jobs) {
      auto task = [h, request = std::move(job.request), deliver = deliver_to_io(job.id)]() mutable {
        const bool expired = steady_clock::now() >= request.deadline;
        run_request(h.get(), std::move(request), expired, std::move(deliver));
      };
      tasks.emplace_back(std::move(task));
    }
    if (!pool) return run_inline(tasks);
    const size_t queued = pool->submit_all(tasks);
    for (size_t i = queued; i < jobs.size(); ++i) {
      deliver_to_io(jobs[i].id)({HandlerOutcome::Kind::kOverloaded,
                                 std::to_string(opts.handler_queue_max) +
                                     " requests wait for the handler on " + advertised});
    }
  }

  // At most opts.member_log_per_second member-change lines per second;
  // what is left out is reported with the next line after the second.
  bool member_log_due() {
    if (opts.member_log_per_second == 0) return true;
    const auto now = steady_clock::now();
    if (now - member_log_window >= std::chrono::seconds(1)) {
      if (member_log_skipped > 0) {
        spdlog::warn("{} member changes not logged (over {} lines a second)", member_log_skipped,
                     opts.member_log_per_second);
      }
      member_log_window = now;
      member_log_lines = 0;
      member_log_skipped = 0;
    }
    if (member_log_lines < opts.member_log_per_second) {
      ++member_log_lines;
      return true;
    }
    ++member_log_skipped;
    return false;
  }

  void report(const MemberEvent& e) {
    if (!member_log_due()) {
    } else if (e.forgotten) {
      spdlog::info("member {} forgotten", member_label(e));
    } else if (!e.old_status) {
      spdlog::info("member {} new -> {} inc {} (from {})", member_label(e), to_string(e.status),
                   e.incarnation, e.source);
    } else {
      spdlog::info("member {} {} -> {} inc {} (from {})", member_label(e), to_string(*e.old_status),
                   to_string(e.status), e.incarnation, e.source);
    }
    const auto ls = current_listeners();
    for (const auto& l : ls->member) notify(l.callback, l.executor, e);
  }

  // Runs an application callback: whatever it throws is caught and
  // counted, and the node carries on.
  template <class F, class... Arg>
  void guarded(F& callback, const Arg&... arg) {
    if (!callback) return;
    try {
      callback(arg...);
    } catch (const std::exception& e) {
      ++counters.callback_errors;
      spdlog::error("a callback threw: {}", e.what());
    } catch (...) {
      ++counters.callback_errors;
      spdlog::error("a callback threw");
    }
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
  void arm_timer() {
    arm(protocol_timer, protocol_timer_at, engine->next_protocol_deadline(), /*lazy=*/false);
    arm(forward_timer, forward_timer_at, engine->next_forward_deadline(), /*lazy=*/true);
  }

  void arm(asio::steady_timer& t, Instant& armed_at, Instant next, bool lazy) {
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
  void exchange(Engine::Exchange x) {
    auto done = [this, id = x.id, to = x.to](bool ok, std::string_view answer, SealWith opened) {
      bool answered = false;
      if (ok) {
        auto decoded = engine->decode_frame(answer, opened);
        if (decoded.ok()) engine->note_minor(to, decoded.minor);
        answered =
            decoded.ok() && engine->on_exchange_response(id, decoded.value->body, mono_now());
      }
      if (!answered) {
        ++counters.exchanges_failed;
        engine->on_exchange_failed(id, mono_now());
      }
      pump();
    };
    start_exchange_to(io, client_options(), endpoints, x.to, listen_v6, x.id, x.request,
                      std::move(done));
  }

  // ---- TcpServer::Delegate ----
  bool on_frame(const std::string& peer, std::string_view bytes, SealWith opened,
                const std::shared_ptr<Responder>& responder) override {
    auto decoded = engine->decode_frame(bytes, opened);
    if (!decoded.ok()) {
      log_drop(decoded.error, decoded.detail, peer);
      return answer_unopened(decoded, bytes, responder);
    }
    const uint64_t id = decoded.value->id;
    const SealWith sealed = decoded.sealed ? SealWith(decoded.key_id) : std::nullopt;
    if (auto* a = std::get_if<proto::AdminRequest>(&decoded.value->body)) {
      if (std::string why = admin_refusal(peer, sealed.has_value()); !why.empty()) {
        ++counters.admin_refused;
        if (log_due("admin_refused")) {
          spdlog::warn("{}; {} admin requests refused so far", why, counters.admin_refused);
        }
        return refuse(responder, id, why, sealed);
      }
      // Admin arguments are small JSON: a big one is refused before it is
      // parsed on the io thread.
      if (bytes.size() > kAdminFrameMax) {
        responder->reply(
            id,
            proto::AdminResponse{"", "admin request of " + std::to_string(bytes.size()) +
                                         " bytes, over the 65536-byte limit"},
            sealed);
        return true;
      }
      admin->handle(
          *a, [responder, id, sealed](proto::AdminResponse r) { responder->reply(id, r, sealed); });
      pump();
      return true;
    }
    if (auto* f = std::get_if<proto::ForwardRequest>(&decoded.value->body)) {
      // Answered now, or once the handler has run (the responder keeps the
      // connection's queue; a closed connection drops the answer).
      const Instant received(responder->received_at().time_since_epoch());
      engine->on_forward_request(std::move(*f), received, mono_now(),
                                 [responder, id, sealed](const proto::ForwardResponse& r) {
                                   responder->reply(id, r, sealed);
                                 });
      pump();
      return true;
    }
    // A join or sync answer holds the whole table: a bounded number wait
    // in send queues at once; past that the asker's exchange fails and it
    // tries again later (as for an unreachable peer).
    std::shared_ptr<void> slot;
    if (std::holds_alternative<membership::JoinRequest>(decoded.value->body) ||
        std::holds_alternative<membership::SyncRequest>(decoded.value->body)) {
      slot = full_state_answers.take();
      if (!slot) return refuse_full_state(peer, responder);
    }
    // A join or sync says who asks: what it speaks counts for that member
    // (a node whose UDP is cut from the start learns its peers this way).
    std::visit(
        [&](const auto& b) {
          using B = std::decay_t<decltype(b)>;
          if constexpr (std::is_same_v<B, membership::JoinRequest> ||
                        std::is_same_v<B, membership::SyncRequest> ||
                        std::is_same_v<B, membership::Ping>) {
            engine->note_minor(b.source, decoded.minor);
          }
        },
        decoded.value->body);
    auto reply = engine->on_request(peer, decoded.value->body, mono_now());
    pump();
    if (!reply) return false;  // a response type sent as a request
    responder->reply(id, *reply, sealed);
    if (slot) responder->hold_until_sent(std::move(slot));
    return true;
  }

  bool refuse_full_state(const std::string& peer, const std::shared_ptr<Responder>& responder) {
    ++counters.full_syncs_refused;
    if (log_due("full_syncs_refused")) {
      spdlog::warn(
          "join/sync from {} refused: {} full-state answers are waiting to be sent; {} "
          "refused so far",
          peer, full_state_answers.in_use(), counters.full_syncs_refused);
    }
    responder->close_after_replies();
    return true;
  }

  // Admin is for the owner: with a keyring, whoever holds a key of it
  // (the request is sealed); without one, whoever is on this host.
  std::string admin_refusal(const std::string& peer, bool sealed) const {
    if (seal->mode() != Encryption::kOff) {
      if (sealed) return "";
      return "admin from " + peer_ip(peer) +
             " needs the cluster key: this node takes admin requests sealed with a key of its "
             "keyring (shoal --keyring-file)";
    }
    if (is_loopback_peer(peer)) return "";
    return "admin from " + peer_ip(peer) +
           " refused: a node without a keyring takes admin requests from loopback only";
  }

  // A refusal the peer can read (in the form it asked), then the end.
  bool refuse(const std::shared_ptr<Responder>& responder, uint64_t id, const std::string& why,
              SealWith sealed) {
    responder->reply(id, proto::AdminResponse{"", why}, sealed);
    responder->close_after_replies();
    return true;
  }

  // A frame that did not decode closes the connection. A CLI without the
  // key is told why first: a plaintext admin request to a node that
  // requires sealing gets a plaintext AdminResponse saying so.
  bool answer_unopened(const proto::Decoded<proto::Frame>& decoded, std::string_view bytes,
                       const std::shared_ptr<Responder>& responder) {
    if (decoded.error == proto::DecodeError::kPlaintextRefused) {
      auto plain = proto::decode_frame(bytes, opts.cluster, kAdminFrameMax);
      if (plain.ok() && std::holds_alternative<proto::AdminRequest>(plain.value->body)) {
        ++counters.admin_refused;
        return refuse(responder, plain.value->id,
                      "admin needs the cluster key: this node takes only sealed messages "
                      "(shoal --keyring-file)",
                      std::nullopt);
      }
    }
    return false;
  }

  // A sealed record that did not open: counted, and a CLI is told why
  // (the answer holds nothing a peer could not know: a key is needed).
  bool on_unopened(const std::string& peer, const Seal::Opened& why,
                   const std::shared_ptr<Responder>& responder) override {
    engine->count_drop(why.error);
    log_drop(why.error, why.detail, peer);
    if (why.error != proto::DecodeError::kDecryptFailed) return false;
    return refuse(responder, 0, "the request did not open: " + why.detail, std::nullopt);
  }

  // Saves a changed keyring to the node's file (admin keys.*), if it has one.
  std::string save_keyring(const Keyring& ring) const {
    if (opts.keyring_file.empty()) return "";
    std::string why = save_keyring_file(opts.keyring_file, ring);
    if (why.empty()) spdlog::info("keyring saved to {} ({} keys)", opts.keyring_file, ring.size());
    return why;
  }
  void on_oversized(const std::string& peer, uint32_t length) override {
    engine->count_drop(proto::DecodeError::kTooLarge);
    log_drop(proto::DecodeError::kTooLarge, "frame of " + std::to_string(length) + " bytes", peer);
  }

  // ---- PeerLinks::Delegate ----
  bool on_answer(const std::string& peer, std::string_view bytes, SealWith opened) override {
    auto decoded = engine->decode_frame(bytes, opened);
    if (!decoded.ok()) return false;
    auto* resp = std::get_if<proto::ForwardResponse>(&decoded.value->body);
    if (resp == nullptr) return false;
    engine->on_forward_response(peer, decoded.value->id, std::move(*resp), mono_now());
    pump();
    return true;
  }
  void on_failed(const std::string& peer, const std::string& why) override {
    spdlog::debug("forwarding connection to {} failed: {}", peer, why);
    engine->on_link_failed(peer, why, mono_now());
    pump();
  }

  // ---- start, leave, stop ----
  std::string bind();
  void make_engine();
  void start_thread();
  void run_io();

  // A graceful leave, in two bounded phases: drain (labelled draining=true,
  // so every ring drops this node; forwarded requests answered
  // shutting_down; until the label has spread and no handler runs, or
  // drain_timeout), then gossip `leave` (until it has spread, or
  // `timeout`), then stop. The app's hooks run before and after.
  void begin_leave(std::chrono::milliseconds timeout) {
    if (engine->core().leaving() || engine->draining()) return;
    spdlog::info("leaving the cluster: draining first");
    for (auto& h : leave_hooks) guarded(h.before);
    engine->drain(mono_now());
    pump();
    poll_drain(steady_clock::now() + opts.drain_timeout, timeout);
  }

  void poll_drain(steady_clock::time_point deadline, std::chrono::milliseconds leave_timeout) {
    const size_t handling = engine->forwarder().jobs_in_flight();
    // Alone (only itself alive or suspect), there is no one to tell.
    const bool spread = engine->core().self_disseminated() || engine->core().pingable_count() <= 1;
    if ((handling == 0 && spread) || steady_clock::now() >= deadline) {
      if (handling > 0) spdlog::warn("drain timed out with {} handlers running", handling);
      engine->leave(mono_now());
      pump();
      return poll_leave(steady_clock::now() + leave_timeout);
    }
    leave_timer.expires_after(std::chrono::milliseconds(20));
    leave_timer.async_wait([this, deadline, leave_timeout](const asio::error_code& ec) {
      if (!ec) poll_drain(deadline, leave_timeout);
    });
  }

  void poll_leave(steady_clock::time_point deadline) {
    // Alone (once it has left, this node is not pingable itself): no one to tell.
    const bool spread = engine->core().leave_disseminated() || engine->core().pingable_count() == 0;
    if (spread || steady_clock::now() >= deadline) {
      spdlog::info("left ({})", spread ? "leave disseminated" : "timed out");
      for (auto& h : leave_hooks) guarded(h.after);
      shutdown();
      return;
    }
    leave_timer.expires_after(std::chrono::milliseconds(20));
    leave_timer.async_wait([this, deadline](const asio::error_code& ec) {
      if (!ec) poll_leave(deadline);
    });
  }

  // On the io thread: close everything; the io thread then runs out of work.
  void shutdown() {
    engine->shutdown();  // every request in progress still gets its one result
    links.close_all();
    udp.close();
    tcp.close();
    metrics.close();
    protocol_timer.cancel();
    forward_timer.cancel();
    leave_timer.cancel();
    io.stop();
  }
};

// Binds TCP, UDP (same port) and metrics; sets `advertised`.
std::string Node::Impl::bind() {
  auto listen = *parse_host_port(opts.listen, nullptr, /*allow_port_zero=*/true);
  auto ip = bind_address(io, listen.host);
  if (!ip) return "listen: cannot resolve '" + listen.host + "'";
  // TCP first: with port 0 the kernel picks the port, and UDP takes the same.
  if (auto err = tcp.open(tcp::endpoint(*ip, listen.port)); !err.empty()) {
    return "listen " + opts.listen + " (tcp): " + err;
  }
  const uint16_t port = tcp.port();
  listen_v6 = ip->is_v6();
  if (auto err = udp.open(udp::endpoint(*ip, port)); !err.empty()) {
    return "listen " + opts.listen + " (udp): " + err;
  }
  if (!opts.metrics_listen.empty()) {
    if (auto err = metrics.open(opts.metrics_listen); !err.empty()) {
      return "metrics " + opts.metrics_listen + ": " + err;
    }
  }
  if (opts.advertise.empty()) {
    listen.port = port;
    advertised = listen.to_string();
  } else {
    advertised = opts.advertise;
  }
  return "";
}

void Node::Impl::make_engine() {
  uint64_t seed = opts.rng_seed;
  if (seed == 0) {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) | rd();
  }
  EngineOptions eo;
  eo.protocol = opts.protocol;
  eo.protocol.address = advertised;
  eo.protocol.name = opts.name;
  eo.protocol.cluster = opts.cluster;
  eo.protocol.labels = opts.labels;
  eo.protocol.incarnation = wall_ms();
  eo.replica_points = opts.replica_points;
  eo.frame_bytes_max = opts.frame_bytes_max;
  eo.forward = {opts.forward_inflight_max, opts.breaker_failures, opts.breaker_open};
  eo.seal = seal;
  spdlog::info("shoal node {} (cluster '{}', incarnation {}, rng seed {}, encryption {}{})",
               advertised, opts.cluster, eo.protocol.incarnation, seed, to_string(seal->mode()),
               seal->mode() == Encryption::kOff
                   ? ""
                   : ", primary key " + key_id_hex(seal->keyring().primary_id()));
  engine = std::make_unique<Engine>(std::move(eo), seed, mono_now());
  if (opts.handler_threads > 0) {
    pool = std::make_unique<HandlerPool>(opts.handler_threads, opts.handler_queue_max);
  }
  gate->impl = this;
  engine->forwarder().on_breaker_open([](std::string_view peer, uint32_t failures) {
    spdlog::warn("circuit to {} open after {} failures", peer, failures);
  });
  admin = std::make_unique<Admin>(
      *engine, Admin::Hooks{mono_now, [this] { begin_leave(opts.leave_timeout); },
                            [this] { return stats_now(); },
                            [this](const Keyring& ring) { return save_keyring(ring); }});
}

// The io loop. An exception that escapes one handler (bad_alloc while
// decoding one message, say) ends that handler, not the node: it is
// counted and logged, and the loop resumes (Asio allows run() again).
void Node::Impl::run_io() {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      ++counters.io_exceptions;
      spdlog::error("io thread: a handler threw: {}; carrying on", e.what());
    } catch (...) {
      ++counters.io_exceptions;
      spdlog::error("io thread: a handler threw; carrying on");
    }
  }
}

void Node::Impl::start_thread() {
  {
    std::lock_guard lock(state_mu);
    running = true;
  }
  std::promise<void> started;
  auto started_f = started.get_future();
  thread = std::thread([this, &started] {
    io_thread_id = std::this_thread::get_id();
    started.set_value();
    run_io();
    std::lock_guard lock(state_mu);
    running = false;
    stopped = true;
    stopped_cv.notify_all();
  });
  started_f.wait();
}

// ------------------------------------------------------------------ Node

Node::Node(NodeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Node::~Node() {
  stop();
  std::lock_guard lock(impl_->gate->mu);
  impl_->gate->impl = nullptr;
}

std::string Node::start() {
  Impl& d = *impl_;
  if (auto err = d.opts.validate(); !err.empty()) return err;
  if (auto err = d.bind(); !err.empty()) return err;
  d.make_engine();
  d.udp.start([&d](const std::string& from, std::string_view bytes) {
    ++d.counters.datagrams_in;
    d.counters.bytes_in += bytes.size();
    auto drop = d.engine->on_datagram(from, bytes, mono_now());
    if (drop.dropped()) return d.log_drop(drop.error, drop.detail, from);
    d.pump();
  });
  d.tcp.start();
  if (d.metrics.is_open()) d.metrics.start();
  d.engine->join(d.opts.seeds, mono_now());
  d.set_seed_specs(d.opts.seeds);
  d.pump();
  d.start_thread();
  return "";
}

void Node::join(std::vector<std::string> seeds) {
  impl_->on_io([this, &seeds] {
    impl_->engine->join(seeds, mono_now());
    impl_->set_seed_specs(seeds);
    impl_->pump();
  });
}

void Node::leave() { leave(impl_->opts.leave_timeout); }

void Node::leave(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(impl_->state_mu);
    if (!impl_->running) return;
  }
  asio::post(impl_->io, [this, timeout] { impl_->begin_leave(timeout); });
  std::unique_lock lock(impl_->state_mu);
  impl_->stopped_cv.wait_for(lock, impl_->opts.drain_timeout + timeout + std::chrono::seconds(1),
                             [this] { return impl_->stopped; });
  lock.unlock();
  stop();
}

void Node::stop() {
  Impl& d = *impl_;
  if (d.thread.joinable()) {
    asio::post(d.io, [&d] { d.shutdown(); });
    d.thread.join();
    // Handlers running now finish (their answers are dropped: the forwarder
    // has shut down); queued ones never run.
    if (d.pool) d.pool->stop();
    {
      std::lock_guard lock(d.state_mu);
      d.running = false;
    }
    // Requests posted after the io thread stopped still get their result
    // (kShuttingDown: the forwarder is shut down): run what is queued, here,
    // once.
    d.io.restart();
    d.io.poll();
  }
  std::lock_guard lock(d.state_mu);
  d.running = false;
  d.stopped = true;
  d.stopped_cv.notify_all();
}

bool Node::wait_stopped(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->state_mu);
  return impl_->stopped_cv.wait_for(lock, timeout, [this] { return impl_->stopped; });
}

std::string Node::address() const { return impl_->advertised; }

std::string Node::name() const {
  return impl_->opts.name.empty() ? impl_->advertised : impl_->opts.name;
}

std::string Node::metrics_address() const { return impl_->metrics.address(); }

std::vector<membership::MemberState> Node::members() const {
  return impl_->on_io([this] {
    return impl_->engine ? impl_->engine->core().members() : std::vector<membership::MemberState>{};
  });
}

namespace {
// What ring() and ring_publisher() show before start(): no members.
const ring::RingPublisher& empty_publisher() {
  static const ring::RingPublisher publisher;
  return publisher;
}
}  // namespace

std::shared_ptr<const ring::Ring> Node::ring() const { return ring_publisher().current(); }

const ring::RingPublisher& Node::ring_publisher() const {
  return impl_->engine ? impl_->engine->ring().publisher() : empty_publisher();
}

uint64_t Node::membership_checksum() const {
  return impl_->on_io(
      [this] { return impl_->engine ? impl_->engine->core().checksum() : uint64_t{0}; });
}

membership::Incarnation Node::incarnation() const {
  return impl_->on_io([this] {
    return impl_->engine ? impl_->engine->core().incarnation() : membership::Incarnation{0};
  });
}

NodeStats Node::stats() const {
  return impl_->on_io([this] { return impl_->stats_now(); });
}

std::string Node::set_labels(membership::Labels labels) {
  return impl_->on_io([this, &labels]() -> std::string {
    if (!impl_->engine) return "the node is not running";
    std::string why = impl_->engine->set_labels(std::move(labels), mono_now());
    impl_->pump();
    return why;
  });
}

void Node::set_handler(AsyncHandler handler) {
  auto h = handler ? std::make_shared<const AsyncHandler>(std::move(handler)) : nullptr;
  std::lock_guard lock(impl_->handler_mu);
  impl_->handler = std::move(h);
}

void Node::set_handler(RequestHandler handler) {
  set_handler(handler ? adapt(std::move(handler)) : AsyncHandler());
}

void Node::handle_or_forward(std::string key, std::string payload, ForwardOptions options,
                             std::function<void(ForwardResult)> done) {
  auto call = [&d = *impl_, key = std::move(key), payload = std::move(payload),
               options = std::move(options), done]() mutable {
    d.engine->forward(std::move(key), std::move(payload), std::move(options), std::move(done),
                      mono_now());
  };
  if (!impl_->with_engine(std::move(call)) && done) {
    done(ForwardResult{ForwardError::kShuttingDown, "node is not running", "", "", 0});
  }
}

void Node::handle_or_forward_all(std::vector<std::string> keys, std::string payload,
                                 ForwardOptions options,
                                 std::function<void(std::vector<KeyResult>)> done) {
  auto call = [&d = *impl_, keys, payload = std::move(payload), options = std::move(options),
               done]() mutable {
    d.engine->forward_all(std::move(keys), std::move(payload), std::move(options), std::move(done),
                          mono_now());
  };
  if (!impl_->with_engine(std::move(call)) && done) {
    std::vector<KeyResult> results;
    for (std::string& k : keys) {
      results.push_back({std::move(k), ForwardResult{ForwardError::kShuttingDown,
                                                     "node is not running", "", "", 0}});
    }
    done(std::move(results));
  }
}

std::future<std::vector<KeyResult>> Node::handle_or_forward_all(std::vector<std::string> keys,
                                                                std::string payload,
                                                                ForwardOptions options) {
  auto promise = std::make_shared<std::promise<std::vector<KeyResult>>>();
  auto fut = promise->get_future();
  handle_or_forward_all(std::move(keys), std::move(payload), std::move(options),
                        [promise](std::vector<KeyResult> r) { promise->set_value(std::move(r)); });
  return fut;
}

std::future<ForwardResult> Node::handle_or_forward(std::string key, std::string payload,
                                                   ForwardOptions options) {
  auto promise = std::make_shared<std::promise<ForwardResult>>();
  auto fut = promise->get_future();
  handle_or_forward(std::move(key), std::move(payload), options,
                    [promise](ForwardResult r) { promise->set_value(std::move(r)); });
  return fut;
}

Node::ListenerId Node::on_member_change(std::function<void(const MemberEvent&)> callback,
                                        Executor executor) {
  return impl_->change_listeners([&](Impl::Listeners& ls, uint64_t id) {
    ls.member.push_back({id, std::move(callback), std::move(executor)});
  });
}

Node::ListenerId Node::on_ring_change(std::function<void(const RingChange&)> callback,
                                      Executor executor) {
  return impl_->change_listeners([&](Impl::Listeners& ls, uint64_t id) {
    ls.ring.push_back({id, std::move(callback), std::move(executor)});
  });
}

void Node::remove_listener(ListenerId id) {
  impl_->change_listeners([id](Impl::Listeners& ls, uint64_t) {
    std::erase_if(ls.member, [id](const auto& l) { return l.id == id; });
    std::erase_if(ls.ring, [id](const auto& l) { return l.id == id; });
  });
}

void Node::on_leave(std::function<void()> before, std::function<void()> after) {
  impl_->leave_hooks.push_back({std::move(before), std::move(after)});
}

std::shared_future<void> Node::ready() const { return impl_->ready_future; }

bool Node::wait_ready(std::chrono::milliseconds timeout) const {
  return impl_->ready_future.wait_for(timeout) == std::future_status::ready;
}

}  // namespace shoal::node
