// Copyright shoal authors. The one-shot TCP exchanges a node starts (join,
// full sync), and the options of every connection it starts (exchanges
// here, forwarding links in peer_links.h).
//
// Exchange: connect, send one request frame, read one answer, close. It
// always ends in exactly one call of `done`: the answer's bytes, or a
// failure (connect refused, timed out, closed, oversized answer). The
// whole exchange is bounded by `timeout`.
//
// Thread safety: the io thread only.

#ifndef SHOAL_NODE_EXCHANGE_H_
#define SHOAL_NODE_EXCHANGE_H_

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "shoal/node/endpoints.h"
#include "shoal/node/seal.h"
#include "shoal/proto/codec.h"

namespace shoal::node {

struct TcpClientOptions {
  std::shared_ptr<Seal> seal;  // the engine's: sealed to peers seals_to() names
  uint32_t frame_bytes_max = proto::kDefaultMaxFrameBytes;
  // Bound on an exchange, and on connecting a forwarding link.
  std::chrono::milliseconds exchange_timeout{1000};
  std::chrono::milliseconds connect_timeout{5000};
  // A forwarding link with requests outstanding that reads nothing for
  // this long has failed (its requests are retried on a new connection).
  std::chrono::milliseconds read_timeout{5000};
  // A request over frame_bytes_max once encoded (bytes): not sent, and the
  // exchange fails.
  std::function<void(size_t bytes)> on_too_big;
};

// `done(true, answer bytes)` or `done(false, {})`, exactly once.
// ok: `answer` is the answer frame, sealed with `opened` or plaintext.
// `compress`: the peer speaks compressed tables (proto/codec.h).
using ExchangeDone = std::function<void(bool ok, std::string_view answer, SealWith opened)>;
void start_exchange(asio::io_context& io, const TcpClientOptions& options,
                    const asio::ip::tcp::endpoint& to, uint64_t id, const proto::FrameBody& request,
                    bool sealed, bool compress, ExchangeDone done);
// The same to an address: a member's IP literal connects at once; a seed
// given by name ("db-1.internal:7000") is resolved first by Asio's
// resolver thread, never blocking the io thread, anew on every attempt
// (its record may change), taking the first address of the family
// `prefer_v6` says (a node on IPv4 reaches seeds on IPv4), else the first.
// An address that does not parse or resolve fails (posted).
void start_exchange_to(asio::io_context& io, const TcpClientOptions& options,
                       EndpointCache& endpoints, const std::string& to, bool prefer_v6, uint64_t id,
                       const proto::FrameBody& request, bool compress, ExchangeDone done);

}  // namespace shoal::node

#endif  // SHOAL_NODE_EXCHANGE_H_
