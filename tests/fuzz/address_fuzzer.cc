// Fuzz target for the two address parsers: membership/member_address.h (member
// addresses: canonical IP literal and port, the identity on the wire) and
// node/host_port.h (parse_host_port: "host:port" as flags and seeds give it).
//
// The input is the text. Checks, each a trap when broken:
//   canonical_member_address / check_member_address
//     * a canonical form is at most kMemberAddressMax bytes, is its own
//       canonical form (idempotent) and passes check_member_address;
//     * failure says why; check_member_address(t) is "" exactly when t is
//       its own canonical form, and otherwise names the canonical form
//       when there is one;
//   parse_host_port
//     * on success, to_string() parses back to the same host, port and
//       bracketing, and to_string() of that is the same text; no error is
//       written; brackets go with ':' in the host and only then;
//     * on failure the error is non-empty and quotes the text;
//     * what parses without port 0 parses the same with it allowed;
//   the two agree
//     * every text with a canonical member address parses with
//       parse_host_port to the same port, and its HostPort's text has the
//       same canonical form (a member address is always a valid seed).
// Built as shoal_address_fuzzer (libFuzzer) and as
// shoal_address_fuzz_replay (ctest fuzz.address_replay).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shoal/membership/member_address.h"
#include "shoal/node/host_port.h"

namespace {

namespace m = ::shoal::membership;
using shoal::node::HostPort;
using shoal::node::parse_host_port;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool same(const HostPort& a, const HostPort& b) {
  return a.host == b.host && a.port == b.port && a.ipv6 == b.ipv6;
}

void member_address(std::string_view text) {
  std::string why;
  const std::optional<std::string> canonical = m::canonical_member_address(text, &why);
  const std::string checked = m::check_member_address(text);
  if (!canonical) {
    check(!why.empty());
    check(!checked.empty());
    return;
  }
  check(why.empty());
  check(!canonical->empty() && canonical->size() <= m::kMemberAddressMax);
  std::string why_again;
  check(m::canonical_member_address(*canonical, &why_again) == *canonical);
  check(why_again.empty());
  check(m::check_member_address(*canonical).empty());
  if (*canonical == text) {
    check(checked.empty());
  } else {
    check(checked == "not canonical (" + *canonical + ")");
  }
  // A member address is a valid host:port, with the same meaning.
  std::string error;
  const std::optional<HostPort> hp = parse_host_port(text, &error);
  check(hp.has_value() && error.empty());
  check(hp->ipv6 == (canonical->front() == '['));
  check(canonical->ends_with(":" + std::to_string(hp->port)));
  check(m::canonical_member_address(hp->to_string()) == *canonical);
}

void host_port(std::string_view text, bool allow_port_zero) {
  std::string error;
  const std::optional<HostPort> hp = parse_host_port(text, &error, allow_port_zero);
  if (!hp) {
    check(!error.empty());
    check(error.ends_with(" in '" + std::string(text) + "'"));
    return;
  }
  check(error.empty());
  check(!hp->host.empty());
  check(hp->ipv6 == (hp->host.find(':') != std::string::npos));
  check(allow_port_zero || hp->port != 0);
  const std::string again = hp->to_string();
  const std::optional<HostPort> back = parse_host_port(again, nullptr, allow_port_zero);
  check(back.has_value() && same(*back, *hp));
  check(back->to_string() == again);
  if (!allow_port_zero) {
    const std::optional<HostPort> zero_ok = parse_host_port(text, nullptr, true);
    check(zero_ok.has_value() && same(*zero_ok, *hp));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  member_address(text);
  host_port(text, false);
  host_port(text, true);
  return 0;
}
