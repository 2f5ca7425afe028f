// Copyright shoal authors. Member addresses: a member's identity on the
// wire.
//
// A member address is an IP literal and a port, in one canonical text, so
// that one host:port has exactly one identity:
//
//   IPv4   10.0.0.1:7000          dotted quad, no leading zeros
//   IPv6   [2001:db8::1]:7000     brackets, RFC 5952: lower-case hex, no
//                                 leading zeros, the longest run of two or
//                                 more zero groups as "::" (the first if
//                                 tied); IPv4-mapped as [::ffff:10.0.0.1]
//   port   1..65535, no leading zeros
//
// DNS names are not member addresses: they are for seeds only, which the
// node resolves off its io thread. Every address the codec decodes (gossip,
// join, sync, forwarding) must pass check_member_address, so a forged name
// can neither make a node resolve it nor create a second identity for a
// member ("[::0:1]:7000" beside "[::1]:7000").
//
// Pure parsing, no I/O; at most kMemberAddressMax bytes are looked at.

#ifndef SHOAL_MEMBERSHIP_MEMBER_ADDRESS_H_
#define SHOAL_MEMBERSHIP_MEMBER_ADDRESS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace shoal::membership {

// Longer than any canonical address ("[ffff:...:ffff]:65535" is 47 bytes).
inline constexpr size_t kMemberAddressMax = 64;

// The canonical text of `text` if it is an IP literal and a port (in any
// spelling inet_pton accepts, e.g. "[0:0::1]:7000"); nullopt otherwise.
// `why`, if given, says what is wrong.
std::optional<std::string> canonical_member_address(std::string_view text,
                                                    std::string* why = nullptr);

// "" if `text` is a canonical member address, else what is wrong, e.g.
// "not an IP address (DNS names are for seeds only)" or "not canonical
// ([::1]:7000)". The text itself is not repeated: callers quote it.
std::string check_member_address(std::string_view text);

// Member names: a member's identity (Config::name; its address unless the
// operator names it). A name is either a canonical member address (the
// default) or 1..64 bytes of letters, digits, '.', '_' and '-' starting
// with a letter or digit, e.g. a Kubernetes pod name "shoal-0". Anything
// else (spaces, control bytes, ':' outside an address) is refused, so that
// a name prints safely in logs and tables and one member cannot appear
// under two spellings of its address.
inline constexpr size_t kMemberNameMax = kMemberAddressMax;
// "" if `text` is a valid member name, else what is wrong.
std::string check_member_name(std::string_view text);

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_MEMBER_ADDRESS_H_
