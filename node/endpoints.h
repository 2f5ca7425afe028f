// Copyright shoal authors. Member addresses ("host:port") to socket
// endpoints, cached: the UDP transport, join/sync exchanges and forwarding
// links all reach members by address.
//
// An IP literal converts without I/O. A DNS name is resolved once, with a
// blocking lookup on the calling (io) thread, then cached; members are few
// and stable. The cache is bounded (cleared past 100,000 entries).
// Thread safety: one thread.

#ifndef SHOAL_NODE_ENDPOINTS_H_
#define SHOAL_NODE_ENDPOINTS_H_

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <map>
#include <optional>
#include <string>

namespace shoal::node {

class EndpointCache {
 public:
  explicit EndpointCache(asio::io_context& io) : io_(io) {}

  // The endpoint of `address`, or nullopt if it does not parse or resolve.
  std::optional<asio::ip::udp::endpoint> resolve(const std::string& address);

 private:
  static constexpr size_t kMax = 100000;
  asio::io_context& io_;
  std::map<std::string, asio::ip::udp::endpoint, std::less<>> cache_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_ENDPOINTS_H_
