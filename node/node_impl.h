// Copyright shoal authors. Node::Impl: the node's private state, and which
// file runs which part of it. Internal: not installed.
//
// One io thread runs everything below. Inputs go into the engine; pump()
// then hands its outputs to the transports and re-arms the timers:
//
//   UdpTransport --datagram--> Engine.on_datagram --.
//   TcpServer ----frame------> Engine.on_request ---+   pump(): datagrams -> UdpTransport
//                `--admin----> Admin               |           exchanges -> start_exchange_to
//   PeerLinks ----answer-----> Engine.on_forward_..-+           forwards  -> PeerLinks
//   HandlerGate --answers----> Engine.on_job_done --+           jobs      -> HandlerGate
//   timer (next_deadline) ---> drain UDP, tick -----'           events    -> log, Listeners
//                                                               timers re-armed
//
// Files, by mechanism:
//   node.cc           the public API (node.h): posts to the io thread or reads snapshots
//   io_driver.cc      bind, the engine's construction, the io thread, pump(), the timers,
//                     exchanges, member-change lines
//   inbound.cc        frames from accepted connections (TcpServer::Delegate) and
//                     forwarding answers (PeerLinks::Delegate): decode, route, refuse
//   leave.cc          the drain -> leave -> stop state machine, and shutdown
//   admin.cc          admin commands and who may send them (admin_refusal)
//   seed_resolver.cc  seeds given by DNS name, resolved off the io thread
//   handler_gate.cc   the application's handler: dispatch, executor, answers back
//   io_relief.cc      handlers on the io thread's own thread; the relief thread
//                     that takes the io loop over when one is slow
//   listeners.cc      the app's listeners and leave hooks
//   log.cc            the node's logger and its rate limits
// and the seams they drive: udp_transport, frame_conn, tcp_server, exchange,
// peer_links (sockets), engine (everything without I/O), metrics_http.
//
// Thread safety: fields are the io thread's unless marked; state_mu guards
// the run state; HandlerGate, Listeners and the ring publisher are safe
// from any thread on their own.

#ifndef SHOAL_NODE_NODE_IMPL_H_
#define SHOAL_NODE_NODE_IMPL_H_

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "shoal/node/admin.h"
#include "shoal/node/endpoints.h"
#include "shoal/node/engine.h"
#include "shoal/node/handler_gate.h"
#include "shoal/node/io_relief.h"
#include "shoal/node/listeners.h"
#include "shoal/node/log.h"
#include "shoal/node/metrics_http.h"
#include "shoal/node/node.h"
#include "shoal/node/peer_links.h"
#include "shoal/node/seed_resolver.h"
#include "shoal/node/tcp_server.h"
#include "shoal/node/udp_transport.h"
#include "shoal/node/ui.h"

namespace shoal::node {

// The node's clock: steady_clock as the engine's Instant.
inline membership::Instant mono_now() {
  return membership::Instant(std::chrono::steady_clock::now().time_since_epoch());
}

class Node::Impl final : public TcpServer::Delegate, public PeerLinks::Delegate {
 public:
  explicit Impl(NodeOptions o);

  NodeOptions opts;
  NodeLog log;
  std::shared_ptr<Seal> seal;  // the engine's, shared with every TCP connection
  asio::io_context io;
  NodeCounters counters;  // transports' (the engine keeps the rest)
  EndpointCache endpoints;
  UdpTransport udp{io, counters, endpoints};
  TcpServer tcp;
  AnswerSlots full_state_answers{opts.full_syncs_max};
  PeerLinks links;
  MetricsServer metrics;
  // Exists from construction, so a reader taken before start() follows
  // the live ring; the engine publishes into it.
  ring::RingPublisher ring_publisher;
  std::unique_ptr<Engine> engine;  // from start()
  // The app's query handlers (Node::set_query_handler), kept across
  // restarts of the engine: set before start(), given to it then.
  std::map<std::string, QueryHandler, std::less<>> query_handlers;
  std::unique_ptr<Admin> admin;
  std::unique_ptr<Ui> ui;  // the web page (GET /ui on the metrics listener)
  SeedResolver seeds{io, log};
  // Takes the io loop over while a handler run on the io thread's own
  // thread is slow (io_relief.h); before `handlers`, which points to it.
  IoRelief relief{io,
                  {[this](std::thread::id id) {
                     std::lock_guard lock(state_mu);
                     io_thread_id = id;
                   },
                   [this] {
                     ++counters.io_relief_takeovers;
                     handlers.release_inline_rest();
                     asio::post(io, [this] { take_answers(); });
                   },
                   [this](const char* what) {
                     ++counters.io_exceptions;
                     log.error("io thread: a handler threw: {}; carrying on", what);
                   }}};
  HandlerGate handlers{io};
  Listeners listeners{log, counters.callback_errors};
  asio::steady_timer protocol_timer{io};
  membership::Instant protocol_timer_at = membership::kNever;
  asio::steady_timer forward_timer{io};
  membership::Instant forward_timer_at = membership::kNever;
  asio::steady_timer leave_timer{io};
  std::string advertised;  // set by bind(), before the io thread starts
  bool listen_v6 = false;
  std::thread thread;
  std::thread::id io_thread_id;  // guarded by state_mu; set while the io thread runs

  // Ready: joined (or alone by configuration); set once, on the io thread.
  std::promise<void> ready_promise;
  std::shared_future<void> ready_future = ready_promise.get_future().share();
  bool ready = false;
  bool displaced_logged = false;

  mutable std::mutex state_mu;
  // Serializes what on_io() runs on a caller's thread while no io thread
  // runs (before start, after stop). Recursive: a query may come back
  // through a callback it runs.
  std::recursive_mutex quiet_mu;
  std::condition_variable stopped_cv;
  bool started = false;  // guarded by state_mu
  bool running = false;  // guarded by state_mu
  bool stopped = false;  // guarded by state_mu

  // Admin frames carry small JSON arguments.
  static constexpr size_t kAdminFrameMax = 64 * 1024;

  // ---- io_driver.cc ----
  Error bind();
  void make_engine();
  void start_thread();
  void run_io();
  TcpClientOptions client_options();               // its on_too_big counts and logs
  std::pair<bool, std::string> readiness() const;  // /ready's answer
  NodeStats stats_now() const;
  // Whether the caller is the running io thread (a callback, a listener).
  bool on_io_thread() const;
  // The same with state_mu held. A handler run on the io thread's own
  // thread (io_relief.h) is not the io thread for that while.
  bool io_thread_here() const;
  // A future form's check: true on the io thread (its wait would never
  // end). A handler run on the io thread's own thread is about to wait for
  // the loop: the relief takes it at once.
  bool future_form_refused();
  // Runs `call` (which uses the engine) on the io thread, then pumps: at
  // once if called there, else posted. false if the node is not running.
  bool with_engine(std::function<void()> call);
  // Runs f on the io thread and waits; directly if already there, or on
  // this thread (one at a time) if no io thread runs. Never with state_mu
  // held.
  template <class F>
  auto on_io(F&& f) -> decltype(f());
  void pump();
  void take_answers();  // the handler gate's drain
  void report(const MemberEvent& e);
  void arm_timers();
  void arm(asio::steady_timer& t, membership::Instant& armed_at, membership::Instant next,
           bool lazy);
  void exchange(Engine::Exchange x);
  void log_drop(proto::DecodeError error, const std::string& detail, const std::string& from);
  uint64_t seed_attempts() const;

  // ---- inbound.cc: TcpServer::Delegate, PeerLinks::Delegate ----
  bool on_frame(const std::string& peer, std::string_view bytes, SealWith opened,
                const std::shared_ptr<Responder>& responder) override;
  bool on_unopened(const std::string& peer, const Seal::Opened& why,
                   const std::shared_ptr<Responder>& responder) override;
  void on_oversized(const std::string& peer, uint32_t length) override;
  void on_too_big(const std::string& peer, size_t bytes) override;
  bool on_answer(const std::string& peer, std::string_view bytes, SealWith opened) override;
  void on_failed(const std::string& peer, const std::string& why) override;
  bool on_admin(const std::string& peer, const proto::AdminRequest& request, uint64_t id,
                size_t bytes, SealWith sealed, const std::shared_ptr<Responder>& responder);
  bool on_membership_request(const std::string& peer, proto::Decoded<proto::Frame>& decoded,
                             SealWith sealed, const std::shared_ptr<Responder>& responder);
  bool refuse_full_state(const std::string& peer, const std::shared_ptr<Responder>& responder);
  bool refuse(const std::shared_ptr<Responder>& responder, uint64_t id, const std::string& why,
              SealWith sealed);
  bool answer_unopened(const proto::Decoded<proto::Frame>& decoded, std::string_view bytes,
                       const std::shared_ptr<Responder>& responder);
  std::string save_keyring(const Keyring& ring) const;

  // ---- leave.cc ----
  void begin_leave(std::chrono::milliseconds timeout);
  void poll_drain(std::chrono::steady_clock::time_point deadline,
                  std::chrono::milliseconds leave_timeout);
  void poll_leave(std::chrono::steady_clock::time_point deadline);
  void shutdown();
};

template <class F>
auto Node::Impl::on_io(F&& f) -> decltype(f()) {
  bool here = false;
  bool quiet = false;
  {
    std::lock_guard lock(state_mu);
    here = io_thread_here();
    quiet = !running;
  }
  // A handler run on the io thread's own thread, about to wait for an io
  // loop: its relief takes the loop at once.
  if (!here && !quiet) IoRelief::hurry_current();
  // f() runs without state_mu held: what it calls (a listener, inline
  // handlers) may call back into the node.
  if (here) return f();
  if (quiet) {
    std::lock_guard lock(quiet_mu);
    return f();
  }
  using R = decltype(f());
  auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(f));
  auto claimed = std::make_shared<std::atomic<bool>>(false);  // one side runs it
  auto fut = task->get_future();
  asio::post(io, [task, claimed] {
    if (!claimed->exchange(true)) (*task)();
  });
  // Bounded wait: if the io thread ends before running the task (a leave
  // completing concurrently), run it here: the state is quiescent then.
  while (fut.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    bool ended = false;
    {
      std::lock_guard lock(state_mu);
      ended = stopped;
    }
    // This thread is the owner, in an inline run, after the shutdown
    // stopped the loop: no thread will run the task (the owner's own end,
    // which sets `stopped`, waits for this run).
    ended = ended || (relief.inline_run_here() && io.stopped() && !relief.taken());
    if (ended && !claimed->exchange(true)) {
      std::lock_guard lock(quiet_mu);
      (*task)();
      break;
    }
  }
  return fut.get();
}

}  // namespace shoal::node

#endif  // SHOAL_NODE_NODE_IMPL_H_
