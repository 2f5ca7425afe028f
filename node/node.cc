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

#include <array>
#include <asio.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "node/address.h"
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

std::string frame_bytes(std::string_view cluster, uint64_t id, const proto::FrameBody& body) {
  std::string encoded = proto::encode_frame(cluster, id, body);
  std::string out;
  out.reserve(proto::kFrameHeaderBytes + encoded.size());
  proto::append_frame_header(out, static_cast<uint32_t>(encoded.size()));
  out += encoded;
  return out;
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
    auto before = publisher.current();
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
    if (builder.pending()) {
      auto after = builder.build();
      if (after != before) {
        publisher.publish(after);
        spdlog::debug("ring: {} members, checksum {:016x}", after->member_count(),
                      after->checksum());
        for (auto& cb : ring_callbacks) cb(RingChange{before, after});
      }
    }
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
      timer_at = membership::kNever;
      core->tick(mono_now());
      pump();
    });
  }

  // ---- UDP ----
  void receive() {
    udp_socket.async_receive_from(
        asio::buffer(rx), rx_from, [this](const asio::error_code& ec, size_t n) {
          if (ec == asio::error::operation_aborted || !udp_socket.is_open()) return;
          if (!ec) on_datagram(n);
          receive();
        });
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

  proto::FrameBody handle_request(const std::string& peer, proto::FrameBody&& body);
  void start_exchange(membership::OutExchange x);

  // A connection accepted from a peer or the CLI: frame in, frame out.
  class ServerConn : public std::enable_shared_from_this<ServerConn> {
   public:
    ServerConn(Impl* impl, tcp::socket s)
        : impl_(impl), socket_(std::move(s)), watchdog_(impl->io) {
      asio::error_code ec;
      auto ep = socket_.remote_endpoint(ec);
      peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    void start() { read_header(); }

   private:
    void arm(std::chrono::milliseconds d) {
      watchdog_.expires_after(d);
      watchdog_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (ec || !self->socket_.is_open()) return;
        ++self->impl_->counters.tcp_timeouts;
        asio::error_code ignored;
        self->socket_.close(ignored);
      });
    }
    void close() {
      asio::error_code ignored;
      watchdog_.cancel();
      socket_.close(ignored);
    }
    void read_header() {
      arm(impl_->opts.tcp_idle_timeout);
      asio::async_read(socket_, asio::buffer(header_),
                       [self = shared_from_this()](const asio::error_code& ec, size_t) {
                         if (ec) return self->close();
                         self->on_header();
                       });
    }
    void on_header() {
      const uint32_t len = *proto::parse_frame_header(std::string_view(header_.data(), 4));
      if (len > impl_->opts.frame_bytes_max) {
        // Refused before allocating: a peer cannot make us reserve memory.
        ++impl_->counters.tcp_oversized;
        ++impl_->counters.drops["too_large"];
        impl_->log_drop("too_large", "frame of " + std::to_string(len) + " bytes", peer_);
        return close();
      }
      body_.resize(len);
      arm(impl_->opts.tcp_read_timeout);
      asio::async_read(socket_, asio::buffer(body_),
                       [self = shared_from_this()](const asio::error_code& ec, size_t) {
                         if (ec) return self->close();
                         self->on_body();
                       });
    }
    void on_body() {
      ++impl_->counters.tcp_frames_in;
      auto decoded = proto::decode_frame(body_, impl_->opts.cluster, impl_->opts.frame_bytes_max);
      if (!decoded.ok()) {
        const std::string reason(proto::to_string(decoded.error));
        ++impl_->counters.drops[reason];
        ++impl_->counters.tcp_bad_frames;
        impl_->log_drop(reason, decoded.detail, peer_);
        return close();
      }
      const uint64_t id = decoded.value->id;
      proto::FrameBody reply = impl_->handle_request(peer_, std::move(decoded.value->body));
      if (std::holds_alternative<proto::AdminResponse>(reply) &&
          std::get<proto::AdminResponse>(reply).error == "bad frame") {
        ++impl_->counters.tcp_bad_frames;
        return close();
      }
      out_ = frame_bytes(impl_->opts.cluster, id, reply);
      arm(impl_->opts.tcp_read_timeout);
      asio::async_write(socket_, asio::buffer(out_),
                        [self = shared_from_this()](const asio::error_code& ec, size_t) {
                          if (ec) return self->close();
                          self->read_header();
                        });
    }

    Impl* impl_;
    tcp::socket socket_;
    asio::steady_timer watchdog_;
    std::string peer_;
    std::array<char, 4> header_{};
    std::string body_;
    std::string out_;
  };

  // An exchange this node started (join, sync): connect, send, read one
  // answer; always ends in exactly one on_tcp_response or on_tcp_failure.
  class ClientConn : public std::enable_shared_from_this<ClientConn> {
   public:
    ClientConn(Impl* impl, uint64_t id)
        : impl_(impl), id_(id), socket_(impl->io), watchdog_(impl->io) {}
    void start(const tcp::endpoint& ep, std::string out) {
      out_ = std::move(out);
      watchdog_.expires_after(
          std::chrono::duration_cast<std::chrono::milliseconds>(impl_->opts.protocol.tcp_timeout));
      watchdog_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (!ec) self->fail();
      });
      socket_.async_connect(ep, [self = shared_from_this()](const asio::error_code& ec) {
        if (ec) return self->fail();
        asio::async_write(self->socket_, asio::buffer(self->out_),
                          [self](const asio::error_code& ec2, size_t) {
                            if (ec2) return self->fail();
                            self->read_header();
                          });
      });
    }

   private:
    void read_header() {
      asio::async_read(socket_, asio::buffer(header_),
                       [self = shared_from_this()](const asio::error_code& ec, size_t) {
                         if (ec) return self->fail();
                         const uint32_t len =
                             *proto::parse_frame_header(std::string_view(self->header_.data(), 4));
                         if (len > self->impl_->opts.frame_bytes_max) {
                           ++self->impl_->counters.tcp_oversized;
                           return self->fail();
                         }
                         self->body_.resize(len);
                         asio::async_read(self->socket_, asio::buffer(self->body_),
                                          [self](const asio::error_code& ec2, size_t) {
                                            if (ec2) return self->fail();
                                            self->on_body();
                                          });
                       });
    }
    void on_body() {
      auto decoded = proto::decode_frame(body_, impl_->opts.cluster, impl_->opts.frame_bytes_max);
      membership::TcpResponse resp;
      if (decoded.ok()) {
        if (auto* j = std::get_if<membership::JoinResponse>(&decoded.value->body)) {
          resp = std::move(*j);
        } else if (auto* s = std::get_if<membership::SyncResponse>(&decoded.value->body)) {
          resp = std::move(*s);
        } else {
          return fail();
        }
      } else {
        ++impl_->counters.drops[std::string(proto::to_string(decoded.error))];
        return fail();
      }
      if (done_) return;
      done_ = true;
      finish();
      impl_->core->on_tcp_response(id_, resp, mono_now());
      impl_->pump();
    }
    void fail() {
      if (done_) return;
      done_ = true;
      finish();
      ++impl_->counters.exchanges_failed;
      impl_->core->on_tcp_failure(id_, mono_now());
      impl_->pump();
    }
    void finish() {
      asio::error_code ignored;
      watchdog_.cancel();
      socket_.close(ignored);
    }

    Impl* impl_;
    uint64_t id_;
    tcp::socket socket_;
    asio::steady_timer watchdog_;
    bool done_ = false;
    std::array<char, 4> header_{};
    std::string body_;
    std::string out_;
  };

  // ---- admin ----
  nlohmann::json status_json();
  nlohmann::json members_json();
  nlohmann::json stats_json();
  proto::AdminResponse admin(const proto::AdminRequest& req);

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
    asio::error_code ignored;
    udp_socket.close(ignored);
    acceptor.close(ignored);
    timer.cancel();
    leave_timer.cancel();
    io.stop();
  }
};

proto::FrameBody Node::Impl::handle_request(const std::string& peer, proto::FrameBody&& body) {
  if (auto* j = std::get_if<membership::JoinRequest>(&body)) {
    auto r = core->on_tcp_request(peer, std::move(*j), mono_now());
    pump();
    return std::get<membership::JoinResponse>(std::move(r));
  }
  if (auto* s = std::get_if<membership::SyncRequest>(&body)) {
    auto r = core->on_tcp_request(peer, std::move(*s), mono_now());
    pump();
    return std::get<membership::SyncResponse>(std::move(r));
  }
  if (auto* a = std::get_if<proto::AdminRequest>(&body)) return admin(*a);
  return proto::AdminResponse{"", "bad frame"};  // a response type sent as a request
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
  proto::FrameBody body =
      std::visit([](auto& r) -> proto::FrameBody { return std::move(r); }, x.request);
  auto conn = std::make_shared<ClientConn>(this, x.id);
  conn->start(tcp::endpoint(ep->address(), ep->port()), frame_bytes(opts.cluster, x.id, body));
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
          {"tcp_accepted", counters.tcp_accepted},
          {"tcp_frames_in", counters.tcp_frames_in},
          {"tcp_oversized", counters.tcp_oversized},
          {"tcp_timeouts", counters.tcp_timeouts},
          {"tcp_bad_frames", counters.tcp_bad_frames},
          {"exchanges_failed", counters.exchanges_failed},
          {"drops", counters.drops},
          {"probes", p.probes},
          {"probes_failed", p.probes_failed},
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
  return {"", "unknown command '" + req.command + "' (members, status, lookup, stats, leave)"};
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

void Node::on_member_change(std::function<void(const MemberEvent&)> callback) {
  impl_->member_callbacks.push_back(std::move(callback));
}

void Node::on_ring_change(std::function<void(const RingChange&)> callback) {
  impl_->ring_callbacks.push_back(std::move(callback));
}

}  // namespace shoal::node
