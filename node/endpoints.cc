// Copyright shoal authors. See endpoints.h.

#include "shoal/node/endpoints.h"

#include "shoal/node/host_port.h"

namespace shoal::node {

using asio::ip::udp;

std::optional<udp::endpoint> EndpointCache::resolve(const std::string& address) {
  if (auto it = cache_.find(address); it != cache_.end()) return it->second;
  auto hp = parse_host_port(address);
  if (!hp) return std::nullopt;
  asio::error_code ec;
  auto ip = asio::ip::make_address(hp->host, ec);
  if (ec) return std::nullopt;  // a name: not resolved here
  const udp::endpoint ep(ip, hp->port);
  if (cache_.size() >= kMax) cache_.clear();
  cache_.emplace(address, ep);
  return ep;
}

}  // namespace shoal::node
