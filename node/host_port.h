// Copyright shoal authors. "host:port" addresses, as members name each
// other: IPv4 "10.0.0.1:7000", IPv6 in brackets "[::1]:7000", or a DNS name
// "db-1.internal:7000". Pure parsing, no I/O.

#ifndef SHOAL_NODE_HOST_PORT_H_
#define SHOAL_NODE_HOST_PORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shoal::node {

struct HostPort {
  std::string host;  // without brackets
  uint16_t port = 0;
  bool ipv6 = false;  // was bracketed
  // Canonical text: "host:port", or "[host]:port" for IPv6.
  std::string to_string() const;
};

// Parses `text`. On failure returns nullopt and, if `error` is given, says
// what is wrong ("missing ':port' in '10.0.0.1'").
// Port 0 ("any free port") is accepted only with `allow_port_zero` (a
// listen address, never a peer's).
std::optional<HostPort> parse_host_port(std::string_view text, std::string* error = nullptr,
                                        bool allow_port_zero = false);

}  // namespace shoal::node

#endif  // SHOAL_NODE_HOST_PORT_H_
