// Copyright shoal authors. Direct evidence: which members this node has
// heard from themselves, and what that buys them.
//
// A member is heard once a datagram arrives from its known address with
// its name as the source (a ping, an ack, a gossip: anything it sent us
// itself), once it answers a join or sync this node sent to its address,
// or once it asks this node to join or sync over a TCP connection from the
// host of its address (a TCP peer cannot forge its address). Claims
// relayed by others, and the members a join or sync brings, do not count:
// they are others' word. Moving to another address clears the mark.
//
// Heard members, and this node itself, come first where capacity is
// scarce:
//   * the piggyback queue sends changes about them before others
//     (Disseminator's priority class), so a flood of hearsay (alive claims
//     about thousands of members a stranger invented, without a keyring)
//     cannot delay a refutation or a newcomer's announcement;
//   * gossip targets and ping-req helpers are drawn from them when there
//     are enough (a datagram to an invented member is lost);
//   * probing takes turns between heard and unheard members (probing.cc).
// Nothing is refused for being unheard: an unheard member is probed,
// gossiped and synced like any other, only behind the heard ones.

#include <string>
#include <string_view>

#include "shoal/membership/assert.h"
#include "shoal/membership/membership.h"

namespace shoal::membership {

void Membership::note_heard(std::string_view from, const std::string& source) {
  if (from.empty() || source == self_) return;
  auto it = members_.find(source);
  if (it == members_.end()) return;
  if (address_of(it->second.state) == from) mark_heard(it->second);
}

namespace {

// "host:port" -> "host" (also "[v6]:port" -> "[v6]"); no port: as is.
std::string_view host_of(std::string_view address) {
  const size_t colon = address.rfind(':');
  return colon == std::string_view::npos ? address : address.substr(0, colon);
}

}  // namespace

void Membership::note_heard_over_tcp(std::string_view peer, const std::string& name, bool dialed) {
  if (peer.empty() || name == self_) return;
  auto it = members_.find(name);
  if (it == members_.end()) return;
  const std::string& address = address_of(it->second.state);
  // Dialed: we connected to `peer`, so it is the address. Accepted: the
  // peer's port is its own choice, its host is not.
  if (dialed ? address != peer : host_of(address) != host_of(peer)) return;
  mark_heard(it->second);
}

void Membership::mark_heard(Member& m) {
  if (m.heard) return;
  m.heard = true;
  update_heard_peer(m);
  queue_.promote(m.state.name);
  // Into the heard probe round (next_in skips it in the unheard one).
  if (m.peer_index != kNoPeer) insert_probe_target(m);
}

void Membership::update_heard_peer(Member& m) {
  const bool in = m.heard && m.peer_index != kNoPeer;
  if (in == (m.heard_index != kNoPeer)) return;
  if (in) {
    list_add(heard_peers_, &Member::heard_index, m);
  } else {
    list_remove(heard_peers_, &Member::heard_index, m);
  }
}

bool Membership::priority_claim(const Change& c) const {
  if (c.name == self_) return true;
  auto it = members_.find(c.name);
  return it != members_.end() && it->second.heard;
}

}  // namespace shoal::membership
