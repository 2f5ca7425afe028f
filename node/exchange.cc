// Copyright shoal authors. See exchange.h.

#include "shoal/node/exchange.h"

#include <asio/post.hpp>

#include "shoal/node/frame_conn.h"
#include "shoal/node/host_port.h"

namespace shoal::node {

using asio::ip::tcp;

namespace {

// One exchange: connect, send, read one answer.
class ExchangeConn final : public FrameConn {
 public:
  ExchangeConn(asio::io_context& io, const TcpClientOptions& o, ExchangeDone done)
      : FrameConn(io, tcp::socket(io), o.seal, o.frame_bytes_max),
        done_(std::move(done)),
        on_too_big_(o.on_too_big) {}

  void start(const tcp::endpoint& to, uint64_t id, const proto::FrameBody& request, bool sealed,
             bool compress, std::chrono::milliseconds timeout) {
    set_deadline(Clock::now() + timeout);
    send(id, request, sealed ? SealWith(seal().keyring().primary_id()) : std::nullopt, compress);
    if (too_big_) {
      // Never connect; fail as every exchange does, from the io loop.
      asio::post(io(), [self = shared_from_this(), this] { fail(); });
      return;
    }
    socket_.async_connect(to, [self = shared_from_this(), this](const asio::error_code& ec) {
      if (ec) return fail();
      connected_ = true;
      flush();
      read_frames();
    });
  }

 private:
  void expired() override { fail(); }
  void read_failed(const std::string&) override { fail(); }
  void write_failed(const std::string&) override { fail(); }
  bool can_write() const override { return connected_ && !ended_; }
  void oversized(uint32_t) override { fail(); }
  void frame_too_big(size_t bytes) override {
    too_big_ = true;
    if (on_too_big_) on_too_big_(bytes);
  }
  bool on_frame(std::string_view bytes, SealWith opened) override {
    if (ended_) return false;
    ended_ = true;
    close_socket();
    done_(true, bytes, opened);
    return false;
  }
  bool unopened(const Seal::Opened&) override {
    fail();
    return false;
  }
  void fail() {
    if (ended_) return;
    ended_ = true;
    close_socket();
    done_(false, {}, std::nullopt);
  }

  ExchangeDone done_;
  std::function<void(size_t)> on_too_big_;
  bool too_big_ = false;
  bool connected_ = false;
  bool ended_ = false;
};

}  // namespace

void start_exchange(asio::io_context& io, const TcpClientOptions& options, const tcp::endpoint& to,
                    uint64_t id, const proto::FrameBody& request, bool sealed, bool compress,
                    ExchangeDone done) {
  std::make_shared<ExchangeConn>(io, options, std::move(done))
      ->start(to, id, request, sealed, compress, options.exchange_timeout);
}

void start_exchange_to(asio::io_context& io, const TcpClientOptions& options,
                       EndpointCache& endpoints, const std::string& to, bool prefer_v6, uint64_t id,
                       const proto::FrameBody& request, bool compress, ExchangeDone done) {
  const bool sealed = options.seal->seals_to(to);
  if (auto ep = endpoints.resolve(to)) {
    return start_exchange(io, options, tcp::endpoint(ep->address(), ep->port()), id, request,
                          sealed, compress, std::move(done));
  }
  auto hp = parse_host_port(to);
  if (!hp) {
    asio::post(io, [done = std::move(done)] { done(false, {}, std::nullopt); });
    return;
  }
  auto resolver = std::make_shared<tcp::resolver>(io);
  resolver->async_resolve(
      hp->host, std::to_string(hp->port),
      [&io, options, resolver, id, request, prefer_v6, sealed, compress, done = std::move(done)](
          const asio::error_code& ec, const tcp::resolver::results_type& results) mutable {
        if (ec || results.empty()) return done(false, {}, std::nullopt);
        tcp::endpoint ep = results.begin()->endpoint();
        for (const auto& r : results) {
          if (r.endpoint().address().is_v6() == prefer_v6) {
            ep = r.endpoint();
            break;
          }
        }
        start_exchange(io, options, ep, id, request, sealed, compress, std::move(done));
      });
}

}  // namespace shoal::node
