// Copyright shoal authors. The forwarding links: one pooled, pipelined TCP
// connection per peer for forwarded requests.
//
// send() queues a request on the peer's connection, connecting first if
// there is none; answers go to Delegate::on_answer(peer, bytes). When a
// connection fails (connect error or timeout, read or write error, an
// oversized or bad answer, or read_timeout without a byte while requests
// are outstanding), Delegate::on_failed(peer, why) runs once and the next
// send() connects again.
//
// Thread safety: the io thread only.

#ifndef SHOAL_NODE_PEER_LINKS_H_
#define SHOAL_NODE_PEER_LINKS_H_

#include <asio/io_context.hpp>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "shoal/node/endpoints.h"
#include "shoal/node/exchange.h"
#include "shoal/node/seal.h"
#include "shoal/proto/codec.h"

namespace shoal::node {

class PeerLinks {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // An answer frame from `peer`; false if it is not a valid answer (the
    // link then fails with "bad answer").
    virtual bool on_answer(const std::string& peer, std::string_view bytes, SealWith opened) = 0;
    virtual void on_failed(const std::string& peer, const std::string& why) = 0;
  };

  PeerLinks(asio::io_context& io, TcpClientOptions options, EndpointCache& endpoints,
            Delegate& delegate);
  ~PeerLinks();

  // Queues `body` as frame `id` to `peer`. An address that does not resolve
  // fails at once (Delegate::on_failed, posted).
  void send(const std::string& peer, uint64_t id, const proto::FrameBody& body);
  void close_all();

 private:
  class Link;
  void failed(const std::string& peer, Link* link, const std::string& why);

  asio::io_context& io_;
  TcpClientOptions options_;
  EndpointCache& endpoints_;
  Delegate& delegate_;
  std::map<std::string, std::shared_ptr<Link>, std::less<>> links_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_PEER_LINKS_H_
