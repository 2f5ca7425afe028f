// Copyright shoal authors. See peer_links.h.

#include "shoal/node/peer_links.h"

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include "shoal/node/frame_conn.h"

namespace shoal::node {

using asio::ip::tcp;

// A pooled connection to one peer: requests are queued as they come and
// answers handed to the delegate, which matches them by id.
class PeerLinks::Link final : public FrameConn {
 public:
  Link(PeerLinks& links, std::string peer)
      : FrameConn(links.io_, tcp::socket(links.io_), links.options_.seal,
                  links.options_.frame_bytes_max),
        links_(&links),
        peer_(std::move(peer)) {}

  void start(const tcp::endpoint& to) {
    set_deadline(Clock::now() + links_->options_.connect_timeout);
    socket_.async_connect(to, [self = shared_from_this(), this](const asio::error_code& ec) {
      if (ec) return fail("connect: " + ec.message());
      if (closed_) return;
      connected_ = true;
      // From here the watchdog watches answers: armed while requests are
      // outstanding (send_request).
      set_deadline(outstanding_ > 0 ? Clock::now() + links_->options_.read_timeout
                                    : Clock::time_point::max());
      asio::error_code ignored;
      socket_.set_option(tcp::no_delay(true), ignored);
      flush();
      read_frames();
    });
  }
  // Queues a request; the first outstanding one arms the read watchdog.
  void send_request(uint64_t id, const proto::FrameBody& body) {
    if (outstanding_++ == 0 && connected_) {
      answers_seen_ = answers_;
      set_deadline(Clock::now() + links_->options_.read_timeout);
    }
    send(id, body, links_->options_.seal->seal_to(peer_));
  }
  // Closes without reporting (the pool is shutting down).
  void close() {
    closed_ = true;
    links_ = nullptr;
    close_socket();
  }

 private:
  // Every read_timeout while requests are outstanding: if no answer came
  // since the last look, the peer is stuck; fail the link so the forwarder
  // retries and reconnects. (Counting answers, not reading the clock per
  // answer, keeps the busy path cheap; a stuck peer is found within one
  // to two read_timeouts.)
  void expired() override {
    if (!connected_) return fail("connect timed out");
    if (outstanding_ == 0) return;  // idle: the next request re-arms
    if (answers_ != answers_seen_) {
      answers_seen_ = answers_;
      return set_deadline(Clock::now() + links_->options_.read_timeout);
    }
    fail("no answer for " + std::to_string(links_->options_.read_timeout.count()) + " ms");
  }
  void read_failed(const std::string& why) override { fail(why); }
  void write_failed(const std::string& why) override { fail(why); }
  bool can_write() const override { return connected_ && !closed_; }
  void oversized(uint32_t) override { fail("oversized answer"); }
  bool unopened(const Seal::Opened& why) override {
    fail("answer did not open: " + why.detail);
    return false;
  }
  bool on_frame(std::string_view bytes, SealWith opened) override {
    if (closed_) return false;
    if (outstanding_ > 0) --outstanding_;
    ++answers_;
    if (!links_->delegate_.on_answer(peer_, bytes, opened)) {
      fail("bad answer");
      return false;
    }
    return !closed_;
  }
  void fail(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    close_socket();
    PeerLinks* links = std::exchange(links_, nullptr);
    if (links != nullptr) links->failed(peer_, this, why);
  }

  PeerLinks* links_;  // null once closed
  std::string peer_;
  bool connected_ = false;
  bool closed_ = false;
  uint64_t outstanding_ = 0;  // requests sent and not answered yet
  uint64_t answers_ = 0;
  uint64_t answers_seen_ = 0;  // answers_ when the watchdog last looked
};

PeerLinks::PeerLinks(asio::io_context& io, TcpClientOptions options, EndpointCache& endpoints,
                     Delegate& delegate)
    : io_(io), options_(std::move(options)), endpoints_(endpoints), delegate_(delegate) {}

PeerLinks::~PeerLinks() { close_all(); }

void PeerLinks::send(const std::string& peer, uint64_t id, const proto::FrameBody& body) {
  auto it = links_.find(peer);
  if (it == links_.end()) {
    auto ep = endpoints_.resolve(peer);
    if (!ep) {
      asio::post(io_, [this, peer] { delegate_.on_failed(peer, "cannot resolve " + peer); });
      return;
    }
    auto link = std::make_shared<Link>(*this, peer);
    link->start(tcp::endpoint(ep->address(), ep->port()));
    it = links_.emplace(peer, std::move(link)).first;
  }
  it->second->send_request(id, body);
}

void PeerLinks::failed(const std::string& peer, Link* link, const std::string& why) {
  auto it = links_.find(peer);
  if (it == links_.end() || it->second.get() != link) return;
  links_.erase(it);
  delegate_.on_failed(peer, why);
}

void PeerLinks::close_all() {
  for (auto& [peer, link] : links_) link->close();
  links_.clear();
}

}  // namespace shoal::node
