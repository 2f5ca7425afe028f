// Copyright shoal authors. The node runtime: the membership core and the
// ring on Asio. See node.h for the contract.
//
// One io thread runs everything below. Inputs (a datagram, a TCP frame, a
// timer) go into the core; pump() then drains the core's outputs:
//
//   UDP datagram --decode--> core.on_message ----.
//   TCP frame ----decode--> core.on_tcp_request -+--> pump(): datagrams out,
//   timer (next_deadline) -> core.tick ----------'    exchanges started,
//                                                     events -> log, ring,
//                                                     callbacks; timer re-armed
//
// TCP connections are small objects owned by shared_ptrs that their
// pending handlers hold (Asio's timeouts example): each has one watchdog
// timer that closes the socket when a read takes too long.

#include "node/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "node/address.h"
#include "node/frame_buffer.h"
#include "proto/codec.h"
#include "ring/publisher.h"

namespace shoal::node {

using asio::ip::tcp;
using asio::ip::udp;
using membership::Instant;
using membership::MemberEvent;
using membership::Status;
using std::chrono::steady_clock;

namespace {

Instant mono_now() { return Instant(steady_clock::now().time_since_epoch()); }

steady_clock::time_point to_steady(Instant t) {
  return steady_clock::time_point(
      std::chrono::duration_cast<steady_clock::duration>(t.time_since_epoch()));
}

uint64_t wall_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

std::string NodeOptions::validate() const {
  std::string err;
  if (!parse_host_port(listen, &err, /*allow_port_zero=*/true)) return "listen: " + err;
  if (!advertise.empty() && !parse_host_port(advertise, &err)) return "advertise: " + err;
  for (const std::string& s : seeds) {
    if (!parse_host_port(s, &err)) return "seeds: " + err;
  }
  if (cluster.empty() || cluster.size() > 255) return "cluster: must be 1..255 bytes";
  if (replica_points < 1 || replica_points > ring::kMaxPointsPerMember) {
    return "replica_points: must be 1.." + std::to_string(ring::kMaxPointsPerMember);
  }
  if (frame_bytes_max < 1024) return "frame_bytes_max: must be >= 1024";
  if (!metrics_listen.empty()) {
    auto hp = parse_host_port(metrics_listen, &err, /*allow_port_zero=*/true);
    if (!hp) return "metrics: " + err;
    asio::error_code ec;
    auto ip = asio::ip::make_address(hp->host, ec);
    if (hp->host != "localhost" && (ec || !ip.is_loopback())) {
      return "metrics: '" + metrics_listen + "' is not a loopback address";
    }
  }
  if (tcp_idle_timeout.count() <= 0 || tcp_read_timeout.count() <= 0) {
    return "tcp timeouts: must be > 0";
  }
  membership::Config c = protocol;
  c.address = advertise.empty() ? listen : advertise;  // only checked for non-empty
  c.cluster = cluster;
  if (auto e = c.validate(); !e.empty()) return e;
  return "";
}

// ------------------------------------------------------------------ Impl

class Node::Impl {
 public:
  explicit Impl(NodeOptions o)
      : opts(std::move(o)), publisher(std::make_shared<const ring::Ring>(opts.replica_points)) {}

  NodeOptions opts;
  asio::io_context io;
  udp::socket udp_socket{io};
  tcp::acceptor acceptor{io};
  asio::steady_timer timer{io};
  Instant timer_at = membership::kNever;
  asio::steady_timer leave_timer{io};
  std::thread thread;
  std::thread::id io_thread_id;

  std::unique_ptr<membership::Membership> core;
  std::string advertised;
  ring::RingBuilder builder{opts.replica_points};
  ring::RingPublisher publisher;

  // Written on the io thread only; read there too (stats() hops over).
  NodeStats counters;
  std::array<char, 65536> rx{};
  udp::endpoint rx_from;
  std::map<std::string, udp::endpoint, std::less<>> endpoints;  // resolution cache

  std::vector<std::function<void(const MemberEvent&)>> member_callbacks;
  std::vector<std::function<void(const RingChange&)>> ring_callbacks;

  std::mutex state_mu;
  std::condition_variable stopped_cv;
  bool running = false;  // guarded by state_mu
  bool stopped = false;  // guarded by state_mu

  // Rate limit for "dropped" log lines: one per reason per second.
  std::map<std::string, steady_clock::time_point> drop_logged;

  // ---- helpers ----
  template <class F>
  auto on_io(F&& f) -> decltype(f()) {
    // Run f on the io thread and wait; directly if already there or if the
    // io thread is not running.
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

  std::optional<udp::endpoint> resolve(const std::string& address) {
    if (auto it = endpoints.find(address); it != endpoints.end()) return it->second;
    auto hp = parse_host_port(address);
    if (!hp) return std::nullopt;
    asio::error_code ec;
    auto ip = asio::ip::make_address(hp->host, ec);
    udp::endpoint ep;
    if (!ec) {
      ep = udp::endpoint(ip, hp->port);
    } else {
      // A DNS name: resolved once, then cached (members are few and stable).
      udp::resolver resolver(io);
      auto results = resolver.resolve(hp->host, std::to_string(hp->port), ec);
      if (ec || results.empty()) return std::nullopt;
      ep = *results.begin();
    }
    if (endpoints.size() > 100000) endpoints.clear();  // bounded
    endpoints.emplace(address, ep);
    return ep;
  }

  void log_drop(const std::string& reason, const std::string& detail, const std::string& from) {
    const auto now = steady_clock::now();
    auto& last = drop_logged[reason];
    if (now - last < std::chrono::seconds(1)) return;
    last = now;
    spdlog::warn("dropped from {}: {} ({}); {} dropped for this reason so far", from, reason,
                 detail, counters.drops[reason]);
  }

  // ---- the core's outputs ----
  void pump() {
    for (auto& d : core->take_datagrams()) send_datagram(d);
    for (auto& x : core->take_exchanges()) start_exchange(std::move(x));
    auto events = core->take_events();
    if (!events.empty()) handle_events(events);
    arm_timer();
  }

  void send_datagram(const membership::OutDatagram& d) {
    auto ep = resolve(d.to);
    if (!ep) {
      ++counters.send_errors;
      return;
    }
    const std::string bytes = proto::encode_datagram(opts.cluster, d.message);
    asio::error_code ec;
    udp_socket.send_to(asio::buffer(bytes), *ep, 0, ec);
    if (ec) {
      ++counters.send_errors;  // would_block (full socket buffer) included: UDP may drop
      return;
    }
    ++counters.datagrams_out;
    counters.bytes_out += bytes.size();
  }

  void handle_events(const std::vector<MemberEvent>& events) {
    for (const MemberEvent& e : events) {
      const bool on_ring = membership::is_pingable(e.status) && !e.forgotten;
      if (e.forgotten) {
        spdlog::info("member {} forgotten", e.address);
      } else if (!e.old_status) {
        spdlog::info("member {} new -> {} inc {} (from {})", e.address, to_string(e.status),
                     e.incarnation, e.source);
      } else {
        spdlog::info("member {} {} -> {} inc {} (from {})", e.address, to_string(*e.old_status),
                     to_string(e.status), e.incarnation, e.source);
      }
      if (on_ring) {
        (void)builder.add(e.address);  // a no-op if already on the ring
      } else {
        builder.remove(e.address);
      }
      for (auto& cb : member_callbacks) cb(e);
    }
    if (builder.pending() && !ring_publish_scheduled) schedule_ring_publication();
  }

  // Rebuilding a ring copies every point: ~0.3 us per member on an idle
  // machine, 1 us with a thousand busy processes, and those thousand
  // co-located nodes multiply any per-node cost by a thousand. The first
  // change after a quiet spell is published after kRingDelayMin; each
  // further publication while changes keep coming doubles the delay, up to
  // 2 ms per member (10 ms..2 s). "Quiet" means no publication for a whole
  // capped delay: a paced stream of changes (a cold start delivers a join
  // every few ms to 100s of ms) backs off like a burst does. Under
  // sustained churn rebuilds then cost at most ~0.05% of a core per node,
  // whatever the size, and the ring trails membership by at most the cap.
  void schedule_ring_publication() {
    const auto cap = ring_delay_cap();
    ring_delay = steady_clock::now() - ring_published_at >= cap ? kRingDelayMin
                                                                : std::min(2 * ring_delay, cap);
    ring_publish_scheduled = true;
    ring_timer.expires_after(ring_delay);
    ring_timer.async_wait([this](const asio::error_code& ec) {
      ring_publish_scheduled = false;
      if (!ec) publish_ring();
    });
  }

  static constexpr steady_clock::duration kRingDelayMin = std::chrono::milliseconds(10);
  static constexpr steady_clock::duration kRingDelayMax = std::chrono::seconds(2);
  steady_clock::duration ring_delay_cap() const {
    const auto per_member =
        std::chrono::milliseconds(2) * static_cast<int64_t>(publisher.current()->member_count());
    return std::clamp<steady_clock::duration>(per_member, kRingDelayMin, kRingDelayMax);
  }
  asio::steady_timer ring_timer{io};
  bool ring_publish_scheduled = false;
  steady_clock::duration ring_delay = kRingDelayMin;
  steady_clock::time_point ring_published_at{};

  void publish_ring() {
    if (!builder.pending()) return;
    ring_published_at = steady_clock::now();
    auto before = publisher.current();
    auto after = builder.build();
    if (after == before) return;
    publisher.publish(after);
    spdlog::debug("ring: {} members, checksum {:016x}", after->member_count(), after->checksum());
    for (auto& cb : ring_callbacks) cb(RingChange{before, after});
  }

  void arm_timer() {
    const Instant next = core->next_deadline();
    if (next == timer_at) return;
    timer_at = next;
    if (next == membership::kNever) {
      timer.cancel();
      return;
    }
    timer.expires_at(to_steady(next));
    timer.async_wait([this, next](const asio::error_code& ec) {
      if (ec || timer_at != next) return;  // cancelled or superseded
      drain_udp(65536);                    // all of it: the ack being waited for may be last
      timer_at = membership::kNever;
      core->tick(mono_now());
      pump();
    });
  }

  // ---- UDP ----
  // Reactor style: wait until the socket is readable, then read every
  // queued datagram with non-blocking reads. One wake-up handles a whole
  // backlog, and the same drain can run before late timers (below) without
  // a pending asynchronous read owning the buffer.
  void receive() {
    udp_socket.async_wait(udp::socket::wait_read, [this](const asio::error_code& ec) {
      if (ec == asio::error::operation_aborted || !udp_socket.is_open()) return;
      on_readable();
    });
  }

  // Datagrams read per readable wake-up before timers and TCP get a turn
  // (a few ms of work at most).
  static constexpr int kUdpBatch = 64;

  void on_readable() {
    if (drain_udp()) {
      receive();
    } else {  // more queued than one drain reads: let other handlers run first
      asio::post(io, [this] {
        if (udp_socket.is_open()) on_readable();
      });
    }
  }

  // Reads the datagrams already queued on the socket, without waiting;
  // true once the socket is empty, false if it stopped at the bound (so a
  // flood cannot hold timers and TCP back for long). Also called before
  // the core's timers run: a timer that fires late means this process was
  // not scheduled for a while (a thousand nodes on two cores), and the
  // acks that arrived meanwhile are still queued in the socket. Judging
  // probes before reading them makes a starved node suspect healthy peers,
  // whose refutations then starve everyone more.
  bool drain_udp(int bound = kUdpBatch) {
    for (int i = 0; i < bound; ++i) {
      asio::error_code ec;
      const size_t n = udp_socket.receive_from(asio::buffer(rx), rx_from, 0, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) return true;
      if (ec == asio::error::bad_descriptor || !udp_socket.is_open()) return true;  // closed
      if (ec) {
        ++counters.receive_errors;  // e.g. ENOMEM; what is queued stays readable
        continue;
      }
      on_datagram(n);
    }
    return false;
  }

  void on_datagram(size_t n) {
    ++counters.datagrams_in;
    counters.bytes_in += n;
    const std::string from = rx_from.address().to_string() + ":" + std::to_string(rx_from.port());
    auto decoded = proto::decode_datagram(std::string_view(rx.data(), n), opts.cluster,
                                          opts.protocol.datagram_budget);
    if (!decoded.ok()) {
      const std::string reason(proto::to_string(decoded.error));
      ++counters.drops[reason];
      log_drop(reason, decoded.detail, from);
      return;
    }
    core->on_message(from, *decoded.value, mono_now());
    pump();
  }

  // ---- TCP ----
  void accept() {
    acceptor.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        ++counters.tcp_accepted;
        std::make_shared<ServerConn>(this, std::move(socket))->start();
      }
      accept();
    });
  }

  // Answers a request frame; nullopt if it is not a request.
  std::optional<proto::FrameBody> handle_request(const std::string& peer, proto::FrameBody&& body);
  void start_exchange(membership::OutExchange x);

  // What every framed TCP connection shares: the socket is read in big
  // chunks that FrameBuffer splits into frames, and answers go through a
  // write queue. Frames queued while handlers run leave together in one
  // send, after the handlers already queued (a post): a batch of pipelined
  // requests or answers costs one read and one write, not two reads and a
  // write per frame. One watchdog timer per connection, re-armed lazily: a
  // read moves the deadline, and the timer checks it when it fires.
  //
  // Derived provides on_frame(body) (false: stop reading), read_failed(why),
  // oversized(length), write_failed(why), can_write() and before_read().
  template <class Derived>
  class FrameConn : public std::enable_shared_from_this<Derived> {
   public:
    FrameConn(Impl* impl, tcp::socket s)
        : impl_(impl),
          socket_(std::move(s)),
          watchdog_(impl->io),
          frames_(impl->opts.frame_bytes_max) {}

    // Queues a frame; it is sent with whatever else is queued meanwhile.
    void send(uint64_t id, const proto::FrameBody& body) {
      proto::append_frame(pending_, impl_->opts.cluster, id, body);
      if (flush_posted_ || !writing_.empty()) return;
      flush_posted_ = true;
      asio::post(impl_->io, [self = this->shared_from_this()] {
        self->flush_posted_ = false;
        self->flush();
      });
    }

   protected:
    Derived& derived() { return static_cast<Derived&>(*this); }

    void read_frames() {
      derived().before_read();
      const std::span<char> area = frames_.write_area();
      socket_.async_read_some(asio::buffer(area.data(), area.size()),
                              [self = this->shared_from_this()](
                                  const asio::error_code& ec, size_t n) { self->on_read(ec, n); });
    }
    void on_read(const asio::error_code& ec, size_t n) {
      if (ec) return derived().read_failed("read: " + ec.message());
      frames_.commit(n);
      std::string_view body;
      for (;;) {
        switch (frames_.next(body)) {
          case FrameBuffer::Status::kNeedMore:
            // A peer that sends requests but does not read the answers
            // stops being read until it catches up.
            if (pending_.size() + writing_.size() > kQueueHigh) {
              read_paused_ = true;
              return;
            }
            return read_frames();
          case FrameBuffer::Status::kOversized:
            ++impl_->counters.tcp_oversized;
            return derived().oversized(frames_.announced());
          case FrameBuffer::Status::kFrame:
            if (!derived().on_frame(body)) return;
            break;
        }
      }
    }
    void flush() {
      if (!writing_.empty() || pending_.empty() || !derived().can_write()) return;
      writing_.swap(pending_);
      asio::async_write(socket_, asio::buffer(writing_),
                        [self = this->shared_from_this()](const asio::error_code& ec, size_t) {
                          if (ec) return self->write_failed("send: " + ec.message());
                          self->writing_.clear();
                          // One big answer must not pin its memory for the
                          // connection's lifetime.
                          if (self->writing_.capacity() > kQueueHigh)
                            std::string().swap(self->writing_);
                          self->flush();
                          if (self->read_paused_ &&
                              self->pending_.size() + self->writing_.size() <= kQueueHigh / 2) {
                            self->read_paused_ = false;
                            self->read_frames();
                          }
                        });
    }
    // The connection expires at `t`. A later deadline is picked up lazily
    // when the timer fires; an earlier one re-arms the timer now.
    void set_deadline(steady_clock::time_point t) {
      deadline_ = t;
      if (t < armed_at_) watch();
    }
    // Fires at deadline_ (which reads keep moving); calls expired() once
    // the deadline has really passed.
    void watch() {
      armed_at_ = deadline_;
      watchdog_.expires_at(deadline_);
      watchdog_.async_wait([self = this->shared_from_this()](const asio::error_code& ec) {
        if (ec || !self->socket_.is_open()) return;
        if (steady_clock::now() < self->deadline_) return self->watch();
        self->expired();
      });
    }
    void close_socket() {
      asio::error_code ignored;
      watchdog_.cancel();
      socket_.close(ignored);
    }

    Impl* impl_;
    tcp::socket socket_;
    asio::steady_timer watchdog_;
    steady_clock::time_point deadline_{};
    steady_clock::time_point armed_at_ = steady_clock::time_point::max();
    FrameBuffer frames_;
    std::string pending_;
    std::string writing_;
    bool flush_posted_ = false;
    bool read_paused_ = false;
    static constexpr size_t kQueueHigh = 4u << 20;  // bytes of unsent answers
  };

  // A connection accepted from a peer or the CLI. Pipelined: frames are
  // read continuously and answered through the write queue, so a
  // forwarding peer can keep many requests in flight on one connection.
  class ServerConn : public FrameConn<ServerConn> {
   public:
    ServerConn(Impl* impl, tcp::socket s) : FrameConn(impl, std::move(s)) {
      asio::error_code ec;
      auto ep = socket_.remote_endpoint(ec);
      peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
      socket_.set_option(tcp::no_delay(true), ec);
    }
    void start() { read_frames(); }

    // FrameConn hooks.
    void before_read() {
      // Idle between frames; a frame once begun must arrive whole within
      // the read timeout, however slowly its bytes trickle in.
      if (frames_.partial() == 0) {
        set_deadline(steady_clock::now() + impl_->opts.tcp_idle_timeout);
      } else if (frame_mark_ != frames_seen_ || !in_frame_) {
        set_deadline(steady_clock::now() + impl_->opts.tcp_read_timeout);
      }
      in_frame_ = frames_.partial() > 0;
      frame_mark_ = frames_seen_;
    }
    void expired() {
      ++impl_->counters.tcp_timeouts;
      close_socket();
    }
    void read_failed(const std::string&) { close_socket(); }
    void write_failed(const std::string&) { close_socket(); }
    bool can_write() const { return socket_.is_open(); }
    void oversized(uint32_t len) {
      // Refused before allocating: a peer cannot make us reserve memory.
      ++impl_->counters.drops["too_large"];
      impl_->log_drop("too_large", "frame of " + std::to_string(len) + " bytes", peer_);
      close_socket();
    }
    bool on_frame(std::string_view bytes) {
      ++frames_seen_;
      ++impl_->counters.tcp_frames_in;
      auto decoded = proto::decode_frame(bytes, impl_->opts.cluster, impl_->opts.frame_bytes_max);
      if (!decoded.ok()) {
        const std::string reason(proto::to_string(decoded.error));
        ++impl_->counters.drops[reason];
        ++impl_->counters.tcp_bad_frames;
        impl_->log_drop(reason, decoded.detail, peer_);
        close_socket();
        return false;
      }
      const uint64_t id = decoded.value->id;
      if (auto* a = std::get_if<proto::AdminRequest>(&decoded.value->body);
          a != nullptr && a->command == "forward") {
        // Answered when the forwarded request ends (other frames may be
        // answered meanwhile: ids pair answers with requests).
        impl_->admin_forward(a->args_json,
                             [self = shared_from_this(), id](proto::AdminResponse resp) {
                               if (self->socket_.is_open()) self->send(id, resp);
                             });
        return true;
      }
      auto reply = impl_->handle_request(peer_, std::move(decoded.value->body));
      if (!reply) {
        ++impl_->counters.tcp_bad_frames;  // a response sent as a request
        close_socket();
        return false;
      }
      send(id, *reply);
      return socket_.is_open();
    }

   private:
    std::string peer_;
    uint64_t frames_seen_ = 0;
    uint64_t frame_mark_ = 0;  // frames_seen_ at the last read
    bool in_frame_ = false;
  };

  // ---- request forwarding (client side) ----

  // A pooled connection to one peer: forward requests are queued as they
  // come and answers matched by id.
  class PeerConn : public FrameConn<PeerConn> {
   public:
    PeerConn(Impl* impl, std::string address)
        : FrameConn(impl, tcp::socket(impl->io)), address_(std::move(address)) {}
    void start(const tcp::endpoint& ep) {
      set_deadline(steady_clock::now() + impl_->opts.tcp_read_timeout);
      socket_.async_connect(ep, [self = shared_from_this()](const asio::error_code& ec) {
        if (ec) return self->fail("connect: " + ec.message());
        if (self->closed_) return;
        self->connected_ = true;
        self->watchdog_.cancel();  // calls carry their own timeouts from here
        asio::error_code ignored;
        self->socket_.set_option(tcp::no_delay(true), ignored);
        self->flush();
        self->read_frames();
      });
    }
    bool closed() const { return closed_; }
    void close() {
      closed_ = true;
      close_socket();
    }

    // FrameConn hooks.
    void before_read() {}
    void expired() {
      if (!connected_) fail("connect timed out");
    }
    void read_failed(const std::string& why) { fail(why); }
    void write_failed(const std::string& why) { fail(why); }
    bool can_write() const { return connected_ && !closed_; }
    void oversized(uint32_t) { fail("oversized answer"); }
    bool on_frame(std::string_view bytes) {
      auto decoded = proto::decode_frame(bytes, impl_->opts.cluster, impl_->opts.frame_bytes_max);
      if (!decoded.ok()) {
        ++impl_->counters.drops[std::string(proto::to_string(decoded.error))];
        fail("bad answer: " + decoded.detail);
        return false;
      }
      auto* resp = std::get_if<proto::ForwardResponse>(&decoded.value->body);
      if (resp == nullptr) {
        fail("unexpected answer type");
        return false;
      }
      impl_->on_forward_response(decoded.value->id, std::move(*resp));
      return !closed_;
    }

   private:
    void fail(const std::string& why) {
      if (closed_) return;
      close();
      impl_->on_peer_failed(address_, this, why);
    }

    std::string address_;
    bool connected_ = false;
    bool closed_ = false;
  };

  struct Call {
    std::string key;
    std::string payload;
    std::function<void(ForwardResult)> done;
    steady_clock::time_point deadline;
    int retries_left = 0;
    int attempts = 0;
    int not_owner = 0;
    std::string peer;    // of the attempt in flight ("" if none)
    bool trial = false;  // this attempt is its peer's half-open trial
    std::string last_error;
    ForwardError last_code = ForwardError::kOk;
    asio::steady_timer timer;
    explicit Call(asio::io_context& io) : timer(io) {}
  };
  struct Peer {
    std::shared_ptr<PeerConn> conn;
    uint32_t inflight = 0;
    uint32_t failures = 0;  // consecutive
    steady_clock::time_point open_until{};
    bool trial_in_flight = false;
  };

  RequestHandler handler;
  bool shutting_down = false;
  uint64_t next_call_id = 1;
  std::map<uint64_t, std::unique_ptr<Call>> calls;  // by wire id
  std::map<std::string, Peer, std::less<>> peers;

  void forward(std::string key, std::string payload, ForwardOptions o,
               std::function<void(ForwardResult)> done);
  void attempt(uint64_t id);
  void retry_later(uint64_t id);
  void finish(uint64_t id, ForwardError code, std::string message, std::string payload = {},
              std::string handled_by = {});
  void on_forward_response(uint64_t id, proto::ForwardResponse resp);
  void on_peer_failed(const std::string& address, PeerConn* conn, const std::string& why);
  void peer_result(const std::string& address, bool success, bool trial);
  HandlerResult run_handler(std::string_view key, std::string_view payload);

  // An exchange this node started (join, sync): connect, send, read one
  // answer; always ends in exactly one on_tcp_response or on_tcp_failure.
  class ClientConn : public FrameConn<ClientConn> {
   public:
    ClientConn(Impl* impl, uint64_t id) : FrameConn(impl, tcp::socket(impl->io)), id_(id) {}
    void start(const tcp::endpoint& ep, const proto::FrameBody& request) {
      set_deadline(steady_clock::now() + std::chrono::duration_cast<steady_clock::duration>(
                                             impl_->opts.protocol.tcp_timeout));
      send(id_, request);
      socket_.async_connect(ep, [self = shared_from_this()](const asio::error_code& ec) {
        if (ec) return self->fail();
        self->connected_ = true;
        self->flush();
        self->read_frames();
      });
    }

    // FrameConn hooks.
    void before_read() {}
    void expired() { fail(); }
    void read_failed(const std::string&) { fail(); }
    void write_failed(const std::string&) { fail(); }
    bool can_write() const { return connected_ && !done_; }
    void oversized(uint32_t) { fail(); }
    bool on_frame(std::string_view bytes) {
      auto decoded = proto::decode_frame(bytes, impl_->opts.cluster, impl_->opts.frame_bytes_max);
      if (!decoded.ok()) {
        ++impl_->counters.drops[std::string(proto::to_string(decoded.error))];
        fail();
        return false;
      }
      auto resp = proto::take_tcp_response(decoded.value->body);
      if (!resp) {
        fail();
        return false;
      }
      if (done_) return false;
      done_ = true;
      close_socket();
      impl_->core->on_tcp_response(id_, *resp, mono_now());
      impl_->pump();
      return false;
    }

   private:
    void fail() {
      if (done_) return;
      done_ = true;
      close_socket();
      ++impl_->counters.exchanges_failed;
      impl_->core->on_tcp_failure(id_, mono_now());
      impl_->pump();
    }

    uint64_t id_;
    bool connected_ = false;
    bool done_ = false;
  };

  // ---- metrics (Prometheus text over HTTP/1.0, one request per connection) ----
  tcp::acceptor metrics_acceptor{io};
  std::string metrics_address;

  std::string metrics_text();

  class HttpConn : public std::enable_shared_from_this<HttpConn> {
   public:
    HttpConn(Impl* impl, tcp::socket s) : impl_(impl), socket_(std::move(s)), watchdog_(impl->io) {}
    void start() {
      watchdog_.expires_after(std::chrono::seconds(5));
      watchdog_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (!ec) {
          asio::error_code ignored;
          self->socket_.close(ignored);
        }
      });
      read();
    }

   private:
    void read() {
      socket_.async_read_some(
          asio::buffer(buf_), [self = shared_from_this()](const asio::error_code& ec, size_t n) {
            if (ec) return;
            self->request_.append(self->buf_.data(), n);
            if (self->request_.find("\r\n\r\n") == std::string::npos &&
                self->request_.find("\n\n") == std::string::npos) {
              if (self->request_.size() > 8192) return self->reply("431 Too Large", "");
              return self->read();
            }
            const bool get_metrics = self->request_.rfind("GET /metrics ", 0) == 0 ||
                                     self->request_.rfind("GET /metrics?", 0) == 0;
            if (get_metrics) {
              self->reply("200 OK", self->impl_->metrics_text());
            } else {
              self->reply("404 Not Found", "try GET /metrics\n");
            }
          });
    }
    void reply(const std::string& status, const std::string& body) {
      out_ = "HTTP/1.0 " + status +
             "\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      asio::async_write(socket_, asio::buffer(out_),
                        [self = shared_from_this()](const asio::error_code&, size_t) {
                          asio::error_code ignored;
                          self->watchdog_.cancel();
                          self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
                          self->socket_.close(ignored);
                        });
    }
    Impl* impl_;
    tcp::socket socket_;
    asio::steady_timer watchdog_;
    std::array<char, 2048> buf_{};
    std::string request_;
    std::string out_;
  };

  void accept_metrics() {
    metrics_acceptor.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !metrics_acceptor.is_open()) return;
      if (!ec) std::make_shared<HttpConn>(this, std::move(socket))->start();
      accept_metrics();
    });
  }

  // ---- admin ----
  nlohmann::json status_json();
  nlohmann::json members_json();
  nlohmann::json stats_json();
  proto::AdminResponse admin(const proto::AdminRequest& req);

  // Admin "forward" {key, payload, timeout_ms?}: handle_or_forward from
  // this node; the answer says who handled it.
  void admin_forward(const std::string& args_json,
                     std::function<void(proto::AdminResponse)> reply) {
    auto args = nlohmann::json::parse(args_json.empty() ? "{}" : args_json, nullptr, false);
    if (args.is_discarded() || !args.is_object() || !args.contains("key") ||
        !args["key"].is_string()) {
      return reply({"", "forward: needs a JSON object with a string 'key'"});
    }
    ForwardOptions fo;
    if (args.contains("timeout_ms") && args["timeout_ms"].is_number_unsigned()) {
      fo.timeout = std::chrono::milliseconds(
          std::clamp<uint64_t>(args["timeout_ms"].get<uint64_t>(), 1, 600000));
    }
    std::string payload = args.contains("payload") && args["payload"].is_string()
                              ? args["payload"].get<std::string>()
                              : std::string();
    const std::string key = args["key"].get<std::string>();
    forward(key, std::move(payload), fo, [reply = std::move(reply), key](ForwardResult r) {
      nlohmann::json j = {{"key", key},
                          {"ok", r.ok()},
                          {"error", std::string(to_string(r.error))},
                          {"message", r.message},
                          {"payload", r.payload},
                          {"handled_by", r.handled_by},
                          {"attempts", r.attempts}};
      reply({j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), ""});
    });
  }

  void begin_leave(std::chrono::milliseconds timeout) {
    if (core->leaving()) return;
    spdlog::info("leaving the cluster");
    core->leave(mono_now());
    pump();
    const auto deadline = steady_clock::now() + timeout;
    poll_leave(deadline);
  }

  void poll_leave(steady_clock::time_point deadline) {
    if (core->leave_disseminated() || steady_clock::now() >= deadline) {
      spdlog::info("left ({})", core->leave_disseminated() ? "leave disseminated" : "timed out");
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
    // Every request in progress still gets its one result.
    shutting_down = true;
    std::vector<uint64_t> ids;
    for (const auto& [id, c] : calls) ids.push_back(id);
    for (uint64_t id : ids) finish(id, ForwardError::kShuttingDown, "node is stopping");
    for (auto& [address, p] : peers) {
      if (p.conn) p.conn->close();
    }
    asio::error_code ignored;
    udp_socket.close(ignored);
    acceptor.close(ignored);
    metrics_acceptor.close(ignored);
    timer.cancel();
    leave_timer.cancel();
    ring_timer.cancel();
    io.stop();
  }
};

std::optional<proto::FrameBody> Node::Impl::handle_request(const std::string& peer,
                                                           proto::FrameBody&& body) {
  if (auto req = proto::take_tcp_request(body)) {
    auto r = core->on_tcp_request(peer, *req, mono_now());
    pump();
    return proto::to_frame_body(std::move(r));
  }
  if (auto* a = std::get_if<proto::AdminRequest>(&body)) return admin(*a);
  if (auto* f = std::get_if<proto::ForwardRequest>(&body)) {
    ++counters.forwards_received;
    proto::ForwardResponse r;
    r.handled_by = advertised;
    auto ring_now = publisher.current();
    const std::string_view owner = ring_now->lookup(f->key);
    if (shutting_down || core->leaving()) {
      r.error = static_cast<uint32_t>(ForwardError::kShuttingDown);
      r.error_message = "node is leaving";
    } else if (f->hops > opts.forward_hops_max) {
      r.error = static_cast<uint32_t>(ForwardError::kTooManyHops);
      r.error_message = "forwarded " + std::to_string(f->hops) + " times";
    } else if (owner != advertised) {
      // Key-level consistency: the receiver must own the key; equal ring
      // checksums are not required (they differ during every rolling deploy).
      r.error = static_cast<uint32_t>(ForwardError::kNotOwner);
      r.error_message = "owner is " + std::string(owner) + " in " + advertised + "'s ring";
    } else {
      HandlerResult h = run_handler(f->key, f->payload);
      if (h.ok) {
        r.payload = std::move(h.payload);
      } else {
        r.error = static_cast<uint32_t>(handler ? ForwardError::kHandlerFailed
                                                : ForwardError::kNoHandler);
        r.error_message = std::move(h.payload);
      }
    }
    return r;
  }
  return std::nullopt;  // a response type sent as a request
}

HandlerResult Node::Impl::run_handler(std::string_view key, std::string_view payload) {
  if (!handler) return {false, "no handler registered on " + advertised};
  return handler(key, payload);
}

void Node::Impl::forward(std::string key, std::string payload, ForwardOptions o,
                         std::function<void(ForwardResult)> done) {
  const uint64_t id = next_call_id++;
  auto call = std::make_unique<Call>(io);
  call->key = std::move(key);
  call->payload = std::move(payload);
  call->done = std::move(done);
  call->deadline = steady_clock::now() + o.timeout;
  call->retries_left = std::max(0, o.retries);
  calls.emplace(id, std::move(call));
  attempt(id);
}

void Node::Impl::attempt(uint64_t id) {
  auto it = calls.find(id);
  if (it == calls.end()) return;
  Call& c = *it->second;
  const auto now = steady_clock::now();
  if (shutting_down) return finish(id, ForwardError::kShuttingDown, "node is stopping");
  if (now >= c.deadline) {
    return finish(id, c.last_code == ForwardError::kOk ? ForwardError::kTimeout : c.last_code,
                  c.last_error.empty() ? "no answer within the time budget" : c.last_error);
  }
  ++c.attempts;
  auto ring_now = publisher.current();
  const std::string owner(ring_now->lookup(c.key));
  if (owner.empty()) return finish(id, ForwardError::kOwnerUnreachable, "the ring is empty");
  if (owner == advertised) {
    ++counters.forwards_local;
    HandlerResult h = run_handler(c.key, c.payload);
    if (h.ok) return finish(id, ForwardError::kOk, "", std::move(h.payload), advertised);
    return finish(id, handler ? ForwardError::kHandlerFailed : ForwardError::kNoHandler,
                  std::move(h.payload), "", advertised);
  }
  Peer& p = peers[owner];
  c.trial = false;
  if (p.failures >= opts.breaker_failures) {
    if (now < p.open_until || p.trial_in_flight) {
      return finish(
          id, ForwardError::kCircuitOpen,
          "circuit to " + owner + " is open after " + std::to_string(p.failures) + " failures");
    }
    p.trial_in_flight = true;  // half-open: this request is the trial
    c.trial = true;
  }
  if (p.inflight >= opts.forward_inflight_max) {
    return finish(id, ForwardError::kOverloaded,
                  std::to_string(p.inflight) + " requests in flight to " + owner);
  }
  if (!p.conn || p.conn->closed()) {
    auto ep = resolve(owner);
    if (!ep) return finish(id, ForwardError::kOwnerUnreachable, "cannot resolve " + owner);
    p.conn = std::make_shared<PeerConn>(this, owner);
    p.conn->start(tcp::endpoint(ep->address(), ep->port()));
  }
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now);
  proto::ForwardRequest req{c.key,      c.payload,
                            1,          ring_now->checksum(),
                            advertised, static_cast<uint32_t>(remaining.count())};
  p.conn->send(id, req);
  ++p.inflight;
  ++counters.forwards_sent;
  c.peer = owner;
  // This attempt may use its share of the remaining budget; a silent owner
  // then leaves time for a retry elsewhere.
  const auto share = remaining / (c.retries_left + 1);
  c.timer.expires_after(std::max<steady_clock::duration>(share, std::chrono::milliseconds(20)));
  c.timer.async_wait([this, id](const asio::error_code& ec) {
    if (ec) return;
    auto it2 = calls.find(id);
    if (it2 == calls.end() || it2->second->peer.empty()) return;
    Call& cc = *it2->second;
    const std::string peer = std::exchange(cc.peer, {});
    peers[peer].inflight--;
    peer_result(peer, false, cc.trial);
    cc.last_code = ForwardError::kTimeout;
    cc.last_error = "no answer from " + peer + " in time";
    retry_later(id);
  });
}

void Node::Impl::retry_later(uint64_t id) {
  auto it = calls.find(id);
  if (it == calls.end()) return;
  Call& c = *it->second;
  if (c.retries_left <= 0 || shutting_down) {
    return finish(id,
                  c.last_code == ForwardError::kOk ? ForwardError::kOwnerUnreachable : c.last_code,
                  c.last_error);
  }
  --c.retries_left;
  ++counters.forwards_retried;
  // Give the ring a moment to catch up with whatever failed: 10, 40, 160 ms.
  const auto delay = std::chrono::milliseconds(10 << (2 * std::min(c.attempts - 1, 4)));
  c.timer.expires_after(delay);
  c.timer.async_wait([this, id](const asio::error_code& ec) {
    if (!ec) attempt(id);
  });
}

void Node::Impl::finish(uint64_t id, ForwardError code, std::string message, std::string payload,
                        std::string handled_by) {
  auto it = calls.find(id);
  if (it == calls.end()) return;
  std::unique_ptr<Call> c = std::move(it->second);
  calls.erase(it);
  c->timer.cancel();
  if (!c->peer.empty()) {
    peers[c->peer].inflight--;
    if (c->trial) peers[c->peer].trial_in_flight = false;
  }
  if (code != ForwardError::kOk) ++counters.forward_errors;
  ForwardResult r{code, std::move(message), std::move(payload), std::move(handled_by), c->attempts};
  if (c->done) c->done(std::move(r));
}

void Node::Impl::on_forward_response(uint64_t id, proto::ForwardResponse resp) {
  auto it = calls.find(id);
  if (it == calls.end()) return;  // answered after its timeout: dropped
  Call& c = *it->second;
  if (c.peer.empty()) return;
  const std::string peer = std::exchange(c.peer, {});
  peers[peer].inflight--;
  c.timer.cancel();
  const auto code = static_cast<ForwardError>(resp.error);
  peer_result(peer, code != ForwardError::kShuttingDown, c.trial);
  if (code == ForwardError::kNotOwner || code == ForwardError::kShuttingDown) {
    // The rings disagree (or the owner is leaving): look again and retry.
    ++c.not_owner;
    c.last_code = code == ForwardError::kNotOwner ? ForwardError::kTooManyRingChanges : code;
    c.last_error = resp.error_message;
    return retry_later(id);
  }
  finish(id, code, std::move(resp.error_message), std::move(resp.payload),
         std::move(resp.handled_by));
}

void Node::Impl::on_peer_failed(const std::string& address, PeerConn* conn,
                                const std::string& why) {
  auto pit = peers.find(address);
  if (pit == peers.end() || pit->second.conn.get() != conn) return;
  spdlog::debug("forwarding connection to {} failed: {}", address, why);
  pit->second.conn.reset();
  std::vector<uint64_t> affected;
  for (auto& [id, c] : calls) {
    if (c->peer == address) affected.push_back(id);
  }
  bool trial = false;
  for (uint64_t id : affected) {
    Call& c = *calls[id];
    c.timer.cancel();
    c.peer.clear();
    trial = trial || c.trial;
    pit->second.inflight--;
    c.last_code = ForwardError::kOwnerUnreachable;
    c.last_error = address + ": " + why;
  }
  peer_result(address, false, trial);
  for (uint64_t id : affected) retry_later(id);
}

void Node::Impl::peer_result(const std::string& address, bool success, bool trial) {
  Peer& p = peers[address];
  if (trial) p.trial_in_flight = false;
  if (success) {
    p.failures = 0;
    return;
  }
  if (++p.failures == opts.breaker_failures || (trial && p.failures > opts.breaker_failures)) {
    ++counters.breaker_opens;
    spdlog::warn("circuit to {} open after {} failures", address, p.failures);
  }
  if (p.failures >= opts.breaker_failures) p.open_until = steady_clock::now() + opts.breaker_open;
}

void Node::Impl::start_exchange(membership::OutExchange x) {
  auto ep = resolve(x.to);
  if (!ep) {
    ++counters.exchanges_failed;
    asio::post(io, [this, id = x.id] {
      core->on_tcp_failure(id, mono_now());
      pump();
    });
    return;
  }
  proto::FrameBody body = proto::to_frame_body(std::move(x.request));
  std::make_shared<ClientConn>(this, x.id)->start(tcp::endpoint(ep->address(), ep->port()), body);
}

std::string Node::Impl::metrics_text() {
  std::string out;
  auto counter = [&out](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP shoal_") + name + " " + help + "\n# TYPE shoal_" + name +
           " counter\nshoal_" + name + " " + std::to_string(v) + "\n";
  };
  auto gauge = [&out](const char* name, const char* help, double v) {
    out += std::string("# HELP shoal_") + name + " " + help + "\n# TYPE shoal_" + name +
           " gauge\nshoal_" + name + " " + std::to_string(v) + "\n";
  };
  const auto& p = core->stats();
  counter("datagrams_in_total", "UDP datagrams received.", counters.datagrams_in);
  counter("datagrams_out_total", "UDP datagrams sent.", counters.datagrams_out);
  counter("bytes_in_total", "UDP bytes received.", counters.bytes_in);
  counter("bytes_out_total", "UDP bytes sent.", counters.bytes_out);
  counter("send_errors_total", "Datagrams the kernel refused.", counters.send_errors);
  counter("receive_errors_total", "UDP reads that failed (other than nothing to read).",
          counters.receive_errors);
  out +=
      "# HELP shoal_drops_total Datagrams and frames dropped, by reason.\n"
      "# TYPE shoal_drops_total counter\n";
  for (const char* reason :
       {"malformed", "too_large", "bad_version", "wrong_cluster", "no_body", "bad_field"}) {
    auto it = counters.drops.find(reason);
    out += std::string("shoal_drops_total{reason=\"") + reason + "\"} " +
           std::to_string(it == counters.drops.end() ? 0 : it->second) + "\n";
  }
  counter("tcp_accepted_total", "TCP connections accepted.", counters.tcp_accepted);
  counter("tcp_timeouts_total", "TCP connections closed for idleness.", counters.tcp_timeouts);
  counter("tcp_oversized_total", "TCP frames refused for size.", counters.tcp_oversized);
  counter("tcp_bad_frames_total", "TCP frames that did not decode.", counters.tcp_bad_frames);
  counter("probes_total", "Probes started.", p.probes);
  counter("probes_failed_total", "Probe periods without an ack.", p.probes_failed);
  counter("late_ticks_total", "Protocol timers that fired late: the process was starved of CPU.",
          p.late_ticks);
  counter("suspicions_total", "Members this node started suspecting.", p.suspicions);
  counter("faulty_declared_total", "Members this node declared faulty.", p.faulty_declared);
  counter("refutations_total", "Claims about this node it refuted.", p.refutations);
  counter("syncs_total", "Full syncs started.", p.syncs_sent);
  counter("forwards_local_total", "Requests handled locally.", counters.forwards_local);
  counter("forwards_sent_total", "Forward attempts sent to owners.", counters.forwards_sent);
  counter("forwards_received_total", "Requests forwarded to this node.",
          counters.forwards_received);
  counter("forward_errors_total", "Requests that ended in an error.", counters.forward_errors);
  counter("breaker_opens_total", "Circuit breakers opened.", counters.breaker_opens);
  std::map<std::string, int> by_status;
  for (const auto& m : core->members()) ++by_status[std::string(to_string(m.status))];
  out += "# HELP shoal_members Known members by status.\n# TYPE shoal_members gauge\n";
  for (const char* st : {"alive", "suspect", "faulty", "leave", "tombstone"}) {
    out +=
        std::string("shoal_members{status=\"") + st + "\"} " + std::to_string(by_status[st]) + "\n";
  }
  gauge("ring_members", "Members on this node's ring.",
        static_cast<double>(publisher.current()->member_count()));
  gauge("health_score", "Lifeguard local health score (0 is healthy).", core->health_score());
  gauge("pending_changes", "Claims waiting to be gossiped.",
        static_cast<double>(core->pending_changes()));
  return out;
}

nlohmann::json Node::Impl::members_json() {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : core->members()) {
    out.push_back({{"address", m.address},
                   {"status", std::string(to_string(m.status))},
                   {"incarnation", m.incarnation},
                   {"labels", m.labels}});
  }
  return out;
}

nlohmann::json Node::Impl::status_json() {
  std::map<std::string, int> by_status;
  for (const auto& m : core->members()) ++by_status[std::string(to_string(m.status))];
  auto ring_now = publisher.current();
  return {{"address", advertised},
          {"cluster", opts.cluster},
          {"incarnation", core->incarnation()},
          {"status", std::string(to_string(core->member(advertised)->status))},
          {"members", by_status},
          {"membership_checksum", core->checksum()},
          {"ring", {{"members", ring_now->member_count()}, {"checksum", ring_now->checksum()}}},
          {"health_score", core->health_score()},
          {"joined", core->joined()}};
}

nlohmann::json Node::Impl::stats_json() {
  const auto& p = core->stats();
  return {{"datagrams_in", counters.datagrams_in},
          {"datagrams_out", counters.datagrams_out},
          {"bytes_in", counters.bytes_in},
          {"bytes_out", counters.bytes_out},
          {"send_errors", counters.send_errors},
          {"receive_errors", counters.receive_errors},
          {"tcp_accepted", counters.tcp_accepted},
          {"tcp_frames_in", counters.tcp_frames_in},
          {"tcp_oversized", counters.tcp_oversized},
          {"tcp_timeouts", counters.tcp_timeouts},
          {"tcp_bad_frames", counters.tcp_bad_frames},
          {"exchanges_failed", counters.exchanges_failed},
          {"forwards_local", counters.forwards_local},
          {"forwards_sent", counters.forwards_sent},
          {"forwards_received", counters.forwards_received},
          {"forwards_retried", counters.forwards_retried},
          {"forward_errors", counters.forward_errors},
          {"breaker_opens", counters.breaker_opens},
          {"drops", counters.drops},
          {"probes", p.probes},
          {"probes_failed", p.probes_failed},
          {"late_ticks", p.late_ticks},
          {"ping_reqs_sent", p.ping_reqs_sent},
          {"nacks_sent", p.nacks_sent},
          {"suspicions", p.suspicions},
          {"confirmations", p.confirmations},
          {"faulty_declared", p.faulty_declared},
          {"refutations", p.refutations},
          {"changes_applied", p.changes_applied},
          {"changes_stale", p.changes_stale},
          {"changes_dropped", p.changes_dropped},
          {"messages_from_self", p.messages_from_self},
          {"pings_misdirected", p.pings_misdirected},
          {"joins_sent", p.joins_sent},
          {"joins_failed", p.joins_failed},
          {"heals_sent", p.heals_sent},
          {"syncs_sent", p.syncs_sent},
          {"syncs_received", p.syncs_received},
          {"pending_changes", core->pending_changes()},
          {"health_score", core->health_score()}};
}

proto::AdminResponse Node::Impl::admin(const proto::AdminRequest& req) {
  nlohmann::json args = nlohmann::json::parse(req.args_json.empty() ? "{}" : req.args_json, nullptr,
                                              /*allow_exceptions=*/false);
  if (args.is_discarded() || !args.is_object()) return {"", "args_json: not a JSON object"};
  auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  if (req.command == "members") return {dump(members_json()), ""};
  if (req.command == "status") return {dump(status_json()), ""};
  if (req.command == "stats") return {dump(stats_json()), ""};
  if (req.command == "lookup") {
    if (!args.contains("key") || !args["key"].is_string())
      return {"", "lookup: needs a string 'key'"};
    size_t n = 1;
    if (args.contains("n")) {
      if (!args["n"].is_number_unsigned() || args["n"].get<uint64_t>() < 1 ||
          args["n"].get<uint64_t>() > 100000) {
        return {"", "lookup: 'n' must be 1..100000"};
      }
      n = args["n"].get<size_t>();
    }
    const std::string key = args["key"].get<std::string>();
    auto r = publisher.current();
    nlohmann::json owners = nlohmann::json::array();
    for (auto o : r->lookup_n(key, n)) owners.push_back(std::string(o));
    return {dump({{"key", key}, {"owners", owners}, {"checksum", r->checksum()}}), ""};
  }
  if (req.command == "leave") {
    begin_leave(std::chrono::milliseconds(2000));
    return {dump({{"leaving", true}, {"address", advertised}}), ""};
  }
  return {"",
          "unknown command '" + req.command + "' (members, status, lookup, forward, stats, leave)"};
}

// ------------------------------------------------------------------ Node

Node::Node(NodeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Node::~Node() { stop(); }

std::string Node::start() {
  Impl& d = *impl_;
  if (auto err = d.opts.validate(); !err.empty()) return err;
  auto listen = *parse_host_port(d.opts.listen, nullptr, /*allow_port_zero=*/true);
  asio::error_code ec;
  auto ip = asio::ip::make_address(listen.host, ec);
  if (ec) {
    // A name: resolve it (e.g. "localhost").
    udp::resolver resolver(d.io);
    auto results = resolver.resolve(listen.host, std::to_string(listen.port), ec);
    if (ec || results.empty()) return "listen: cannot resolve '" + listen.host + "'";
    ip = results.begin()->endpoint().address();
  }
  // TCP first: with port 0 the kernel picks the port, and UDP takes the same.
  tcp::endpoint tcp_ep(ip, listen.port);
  d.acceptor.open(tcp_ep.protocol(), ec);
  if (!ec) d.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) d.acceptor.bind(tcp_ep, ec);
  if (!ec) d.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "listen " + d.opts.listen + " (tcp): " + ec.message();
  const uint16_t port = d.acceptor.local_endpoint().port();
  udp::endpoint udp_ep(ip, port);
  d.udp_socket.open(udp_ep.protocol(), ec);
  if (!ec) d.udp_socket.bind(udp_ep, ec);
  if (!ec) d.udp_socket.non_blocking(true, ec);
  if (ec) return "listen " + d.opts.listen + " (udp): " + ec.message();
  // Room for bursts (a cold start's syncs and gossip) in the kernel.
  d.udp_socket.set_option(asio::socket_base::receive_buffer_size(4 << 20), ec);

  if (!d.opts.metrics_listen.empty()) {
    auto mhp = *parse_host_port(d.opts.metrics_listen, nullptr, true);
    auto mip = mhp.host == "localhost" ? asio::ip::make_address("127.0.0.1")
                                       : asio::ip::make_address(mhp.host, ec);
    tcp::endpoint mep(mip, mhp.port);
    d.metrics_acceptor.open(mep.protocol(), ec);
    if (!ec) d.metrics_acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) d.metrics_acceptor.bind(mep, ec);
    if (!ec) d.metrics_acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return "metrics " + d.opts.metrics_listen + ": " + ec.message();
    HostPort bound = mhp;
    bound.port = d.metrics_acceptor.local_endpoint().port();
    d.metrics_address = bound.to_string();
  }
  if (d.opts.advertise.empty()) {
    HostPort hp = listen;
    hp.port = port;
    d.advertised = hp.to_string();
  } else {
    d.advertised = d.opts.advertise;
  }
  uint64_t seed = d.opts.rng_seed;
  if (seed == 0) {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) | rd();
  }
  membership::Config c = d.opts.protocol;
  c.address = d.advertised;
  c.cluster = d.opts.cluster;
  c.labels = d.opts.labels;
  c.incarnation = wall_ms();
  spdlog::info("shoal node {} (cluster '{}', incarnation {}, rng seed {})", d.advertised,
               d.opts.cluster, c.incarnation, seed);
  d.core = std::make_unique<membership::Membership>(std::move(c), seed, mono_now());
  (void)d.builder.add(d.advertised);
  d.publisher.publish(d.builder.build());

  d.receive();
  d.accept();
  if (d.metrics_acceptor.is_open()) d.accept_metrics();
  d.core->join(d.opts.seeds, mono_now());
  d.pump();
  {
    std::lock_guard lock(d.state_mu);
    d.running = true;
  }
  std::promise<void> started;
  auto started_f = started.get_future();
  d.thread = std::thread([&d, &started] {
    d.io_thread_id = std::this_thread::get_id();
    started.set_value();
    d.io.run();
    std::lock_guard lock(d.state_mu);
    d.running = false;
    d.stopped = true;
    d.stopped_cv.notify_all();
  });
  started_f.wait();
  return "";
}

void Node::join(std::vector<std::string> seeds) {
  impl_->on_io([this, &seeds] {
    impl_->core->join(seeds, mono_now());
    impl_->pump();
  });
}

void Node::leave(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(impl_->state_mu);
    if (!impl_->running) return;
  }
  asio::post(impl_->io, [this, timeout] { impl_->begin_leave(timeout); });
  std::unique_lock lock(impl_->state_mu);
  impl_->stopped_cv.wait_for(lock, timeout + std::chrono::seconds(1),
                             [this] { return impl_->stopped; });
  lock.unlock();
  stop();
}

void Node::stop() {
  Impl& d = *impl_;
  if (d.thread.joinable()) {
    asio::post(d.io, [&d] { d.shutdown(); });
    d.thread.join();
    {
      std::lock_guard lock(d.state_mu);
      d.running = false;
    }
    // Requests posted after the io thread stopped still get their result
    // (kShuttingDown): run what is queued, here, once.
    d.shutting_down = true;
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

std::string Node::metrics_address() const { return impl_->metrics_address; }

std::vector<membership::MemberState> Node::members() const {
  return impl_->on_io([this] {
    return impl_->core ? impl_->core->members() : std::vector<membership::MemberState>{};
  });
}

std::shared_ptr<const ring::Ring> Node::ring() const { return impl_->publisher.current(); }

const ring::RingPublisher& Node::ring_publisher() const { return impl_->publisher; }

uint64_t Node::membership_checksum() const {
  return impl_->on_io([this] { return impl_->core ? impl_->core->checksum() : uint64_t{0}; });
}

membership::Incarnation Node::incarnation() const {
  return impl_->on_io(
      [this] { return impl_->core ? impl_->core->incarnation() : membership::Incarnation{0}; });
}

NodeStats Node::stats() const {
  return impl_->on_io([this] {
    NodeStats s = impl_->counters;
    if (impl_->core) {
      s.protocol = impl_->core->stats();
      s.health_score = impl_->core->health_score();
    }
    return s;
  });
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
    case ForwardError::kTooManyHops:
      return "too_many_hops";
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

void Node::set_handler(RequestHandler handler) { impl_->handler = std::move(handler); }

void Node::handle_or_forward(std::string key, std::string payload, ForwardOptions options,
                             std::function<void(ForwardResult)> done) {
  Impl& d = *impl_;
  {
    std::unique_lock lock(d.state_mu);
    if (!d.running) {
      lock.unlock();
      if (done) done(ForwardResult{ForwardError::kShuttingDown, "node is not running", "", "", 0});
      return;
    }
    if (std::this_thread::get_id() == d.io_thread_id) {
      lock.unlock();
      d.forward(std::move(key), std::move(payload), options, std::move(done));
      return;
    }
  }
  asio::post(d.io, [&d, key = std::move(key), payload = std::move(payload), options,
                    done = std::move(done)]() mutable {
    d.forward(std::move(key), std::move(payload), options, std::move(done));
  });
}

std::future<ForwardResult> Node::handle_or_forward(std::string key, std::string payload,
                                                   ForwardOptions options) {
  auto promise = std::make_shared<std::promise<ForwardResult>>();
  auto fut = promise->get_future();
  handle_or_forward(std::move(key), std::move(payload), options,
                    [promise](ForwardResult r) { promise->set_value(std::move(r)); });
  return fut;
}

void Node::on_member_change(std::function<void(const MemberEvent&)> callback) {
  impl_->member_callbacks.push_back(std::move(callback));
}

void Node::on_ring_change(std::function<void(const RingChange&)> callback) {
  impl_->ring_callbacks.push_back(std::move(callback));
}

}  // namespace shoal::node
