// Copyright shoal authors. See member_address.h.

#include "shoal/membership/member_address.h"

#include <array>
#include <cstdint>

namespace shoal::membership {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decimal 0..max, 1..digits characters, no sign. Leading zeros are
// allowed unless `canonical` (the canonical text has none).
std::optional<unsigned> parse_decimal(std::string_view s, size_t digits, unsigned max,
                                      bool canonical = false) {
  if (s.empty() || s.size() > digits) return std::nullopt;
  if (canonical && s.size() > 1 && s[0] == '0') return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

std::optional<std::array<uint8_t, 4>> parse_ipv4(std::string_view s, bool canonical = false) {
  std::array<uint8_t, 4> out{};
  for (size_t i = 0; i < 4; ++i) {
    const size_t dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return std::nullopt;
    auto v = parse_decimal(s.substr(0, dot), 3, 255, canonical);
    if (!v) return std::nullopt;
    out[i] = static_cast<uint8_t>(*v);
    s = i < 3 ? s.substr(dot + 1) : std::string_view();
  }
  return out;
}

// Groups of a textual IPv6 address (without brackets or zone).
std::optional<std::array<uint16_t, 8>> parse_ipv6(std::string_view s) {
  std::array<uint16_t, 8> head{}, tail{};
  size_t heads = 0, tails = 0;
  bool compressed = false;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    s.remove_prefix(2);
  } else if (!s.empty() && s.front() == ':') {
    return std::nullopt;
  }
  while (!s.empty()) {
    auto& groups = compressed ? tail : head;
    size_t& count = compressed ? tails : heads;
    const size_t colon = s.find(':');
    const std::string_view part = s.substr(0, colon);
    if (colon == std::string_view::npos && part.find('.') != std::string_view::npos) {
      auto v4 = parse_ipv4(part);  // a dotted-quad tail: two groups
      if (!v4 || count + 2 > 8) return std::nullopt;
      groups[count++] = static_cast<uint16_t>((*v4)[0] << 8 | (*v4)[1]);
      groups[count++] = static_cast<uint16_t>((*v4)[2] << 8 | (*v4)[3]);
      break;
    }
    if (part.empty() || part.size() > 4 || count >= 8) return std::nullopt;
    unsigned v = 0;
    for (char c : part) {
      const int h = hex_value(c);
      if (h < 0) return std::nullopt;
      v = v * 16 + static_cast<unsigned>(h);
    }
    groups[count++] = static_cast<uint16_t>(v);
    if (colon == std::string_view::npos) break;
    s.remove_prefix(colon + 1);
    if (!s.empty() && s.front() == ':') {
      if (compressed) return std::nullopt;  // a second "::"
      compressed = true;
      s.remove_prefix(1);
    } else if (s.empty()) {
      return std::nullopt;  // a trailing single ':'
    }
  }
  if (compressed ? heads + tails > 7 : heads != 8) return std::nullopt;
  std::array<uint16_t, 8> out{};
  for (size_t i = 0; i < heads; ++i) out[i] = head[i];
  for (size_t i = 0; i < tails; ++i) out[8 - tails + i] = tail[i];
  return out;
}

// RFC 5952 text.
std::string format_ipv6(const std::array<uint16_t, 8>& g) {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool mapped =
      g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xffff;
  const size_t groups = mapped ? 6 : 8;
  // The longest run of two or more zero groups, the first if tied.
  size_t best = groups, best_len = 1;
  for (size_t i = 0; i < groups;) {
    size_t j = i;
    while (j < groups && g[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j == i ? i + 1 : j;
  }
  std::string out;
  for (size_t i = 0; i < groups; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const int nibble = (g[i] >> shift) & 0xf;
      if (nibble != 0 || started || shift == 0) {
        out += kHex[nibble];
        started = true;
      }
    }
  }
  if (mapped) {
    if (out.back() != ':') out += ':';
    out += std::to_string(g[6] >> 8) + "." + std::to_string(g[6] & 0xff) + "." +
           std::to_string(g[7] >> 8) + "." + std::to_string(g[7] & 0xff);
  }
  return out;
}

}  // namespace

std::optional<std::string> canonical_member_address(std::string_view text, std::string* why) {
  auto fail = [&](std::string what) -> std::optional<std::string> {
    if (why != nullptr) *why = std::move(what);
    return std::nullopt;
  };
  if (text.empty()) return fail("empty");
  if (text.size() > kMemberAddressMax) return fail("longer than any IP address and port");
  std::string_view host, port;
  bool v6 = false;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail("not [IPv6]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    v6 = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("missing ':port'");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto p = parse_decimal(port, 5, 65535);
  if (!p || *p == 0) return fail("port must be 1..65535");
  std::string canonical;
  if (v6) {
    auto g = parse_ipv6(host);
    if (!g) return fail("not an IPv6 address in brackets");
    canonical = "[" + format_ipv6(*g) + "]";
  } else {
    auto a = parse_ipv4(host);
    if (!a) return fail("not an IP address (DNS names are for seeds only)");
    canonical = std::to_string((*a)[0]) + "." + std::to_string((*a)[1]) + "." +
                std::to_string((*a)[2]) + "." + std::to_string((*a)[3]);
  }
  return canonical + ":" + std::to_string(*p);
}

namespace {
// The common case without allocating: a canonical "a.b.c.d:port".
bool is_canonical_ipv4_address(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  const auto port = parse_decimal(text.substr(colon + 1), 5, 65535, /*canonical=*/true);
  return port && *port != 0 && parse_ipv4(text.substr(0, colon), /*canonical=*/true);
}
}  // namespace

std::string check_member_address(std::string_view text) {
  if (!text.empty() && text.front() != '[' && text.size() <= kMemberAddressMax &&
      is_canonical_ipv4_address(text)) {
    return "";
  }
  std::string why;
  auto canonical = canonical_member_address(text, &why);
  if (!canonical) return why;
  if (*canonical != text) return "not canonical (" + *canonical + ")";
  return "";
}

namespace {
bool is_name_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}
}  // namespace

std::string check_member_name(std::string_view text) {
  if (text.empty()) return "empty name";
  if (text.size() > kMemberNameMax) return "name over " + std::to_string(kMemberNameMax) + " bytes";
  if (text.find(':') != std::string_view::npos) {
    // Only an address may contain ':', and only in its canonical spelling.
    return check_member_address(text);
  }
  if (!is_name_byte(text.front()) || text.front() == '.' || text.front() == '_' ||
      text.front() == '-') {
    return "a name must start with a letter or digit";
  }
  for (char c : text) {
    if (!is_name_byte(c)) return "a name is letters, digits, '.', '_' and '-'";
  }
  return "";
}

}  // namespace shoal::membership
