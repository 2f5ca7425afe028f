// Copyright shoal authors. Member addresses ("ip:port", membership/
// member_address.h) to socket endpoints, cached: the UDP transport, join/sync
// exchanges and forwarding links all reach members by address.
//
// Only IP literals convert, without I/O: this never resolves a DNS name,
// so nothing a peer sends can make the io thread wait on DNS. Seeds given
// by name are resolved asynchronously where they are used (seed_resolver.h,
// exchange.h).
// The cache is bounded (cleared past 100,000 entries).
// Thread safety: one thread.

#ifndef SHOAL_NODE_ENDPOINTS_H_
#define SHOAL_NODE_ENDPOINTS_H_

#include <asio/ip/udp.hpp>
#include <map>
#include <optional>
#include <string>

namespace shoal::node {

class EndpointCache {
 public:
  // The endpoint of `address`, or nullopt if it is not an IP literal and
  // port.
  std::optional<asio::ip::udp::endpoint> resolve(const std::string& address);

 private:
  static constexpr size_t kMax = 100000;
  std::map<std::string, asio::ip::udp::endpoint, std::less<>> cache_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_ENDPOINTS_H_
