// Copyright shoal authors. The piggyback queue: changes waiting to be
// gossiped, at most one per member (a newer claim replaces an older one).
//
// Order: priority changes first (the owner says which: Membership gives
// priority to its own claims and to claims about members it has heard
// from directly), then fewest sends, then newest, so fresh news (a
// refutation, a join) goes out at once and old news yields to it, and a
// flood of claims about members nobody has heard from (invented by a
// stranger, or thousands of hearsay changes) cannot crowd out the rest. Each
// change is sent at most `limit` times (retransmit_mult * ceil(log2(N+1)),
// computed by the caller as N changes) and then dropped. fill() packs
// changes into a byte budget by their exact encoded size.
//
// Not thread-safe; owned by one Membership.

#ifndef SHOAL_MEMBERSHIP_DISSEMINATION_H_
#define SHOAL_MEMBERSHIP_DISSEMINATION_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "shoal/membership/messages.h"

namespace shoal::membership {

class Disseminator {
 public:
  // Changes whose encoded size exceeds `change_bytes_max` (what the
  // fullest datagram leaves for one change) are never queued: they could
  // never be sent, and would sit at the head of the queue forever.
  explicit Disseminator(size_t change_bytes_max = SIZE_MAX) : change_bytes_max_(change_bytes_max) {}

  // Queues `c`, replacing any pending change about the same member; false
  // (and nothing queued or replaced) if it is too big to ever be sent.
  [[nodiscard]] bool enqueue(Change c, bool priority = true);
  // Moves the pending change about member `name`, if any, into the
  // priority class (its sends so far still count).
  void promote(std::string_view name);
  // Drops the pending change about member `address` (its name), if any.
  void remove(std::string_view address);
  // The pending change about `address`, or nullptr.
  const Change* find(std::string_view address) const;

  // Appends pending changes to `out`, in queue order, while their encoded
  // sizes fit in `budget` bytes and out holds fewer than `count_max`; the
  // change about `first` (if pending) goes before all others. Each change
  // appended counts as one send; a change sent `limit` times leaves the
  // queue. Returns the bytes used.
  size_t fill(std::vector<Change>& out, size_t budget, size_t count_max, int limit,
              std::string_view first = {});

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Change change;
    size_t bytes;
    int sends;
    uint64_t id;
    bool priority;
  };
  // (not priority, sends, -id): priority first, fewest sends, newest.
  using Key = std::tuple<bool, int, uint64_t, Entry*>;
  static Key key_of(Entry& e) { return {!e.priority, e.sends, ~e.id, &e}; }

  size_t change_bytes_max_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::set<Key> order_;
  uint64_t next_id_ = 0;
};

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_DISSEMINATION_H_
