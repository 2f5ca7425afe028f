// Copyright shoal authors. See address.h.

#include "shoal/node/host_port.h"

#include <charconv>

namespace shoal::node {

std::string HostPort::to_string() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<HostPort> parse_host_port(std::string_view text, std::string* error,
                                        bool allow_port_zero) {
  auto fail = [&](const std::string& why) -> std::optional<HostPort> {
    if (error != nullptr) *error = why + " in '" + std::string(text) + "'";
    return std::nullopt;
  };
  HostPort hp;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']'");
    hp.host = std::string(text.substr(1, close - 1));
    hp.ipv6 = true;
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return fail("missing ':port' after ']'");
    port_text = text.substr(close + 2);
    if (hp.host.find(':') == std::string::npos) return fail("brackets are for IPv6 hosts");
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("missing ':port'");
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) {
      return fail("IPv6 hosts need brackets, e.g. [::1]:7000");
    }
    port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) return fail("empty host");
  for (char c : hp.host) {
    if (c == ' ' || c == '/' || c == '#' || c == '[' || c == ']' ||
        static_cast<unsigned char>(c) < 0x21) {
      return fail("invalid character in host");
    }
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      (value == 0 && !allow_port_zero) || value > 65535) {
    return fail(allow_port_zero ? "port must be 0..65535" : "port must be 1..65535");
  }
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

}  // namespace shoal::node
