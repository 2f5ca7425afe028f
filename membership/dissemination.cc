// Copyright shoal authors. See dissemination.h.

#include "shoal/membership/dissemination.h"

#include <utility>

namespace shoal::membership {

namespace {
// fill() looks at most this many entries that do not fit before giving up:
// a bound on work per datagram when the budget is nearly used.
constexpr int kSkipsMax = 16;
}  // namespace

bool Disseminator::enqueue(Change c, bool priority) {
  const size_t bytes = encoded_change_size(c);
  if (bytes > change_bytes_max_) return false;
  remove(c.name);
  std::string address = c.name;
  auto [it, inserted] =
      entries_.emplace(std::move(address), Entry{std::move(c), bytes, 0, next_id_++, priority});
  order_.insert(key_of(it->second));
  return true;
}

void Disseminator::remove(std::string_view address) {
  auto it = entries_.find(address);
  if (it == entries_.end()) return;
  order_.erase(key_of(it->second));
  entries_.erase(it);
}

void Disseminator::promote(std::string_view name) {
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.priority) return;
  order_.erase(key_of(it->second));
  it->second.priority = true;
  order_.insert(key_of(it->second));
}

const Change* Disseminator::find(std::string_view address) const {
  auto it = entries_.find(address);
  return it == entries_.end() ? nullptr : &it->second.change;
}

size_t Disseminator::fill(std::vector<Change>& out, size_t budget, size_t count_max, int limit,
                          std::string_view first) {
  std::vector<Entry*> sent;
  size_t used = 0;
  auto take = [&](Entry& e) {
    out.push_back(e.change);
    used += e.bytes;
    sent.push_back(&e);
  };
  Entry* first_entry = nullptr;
  if (!first.empty()) {
    if (auto it = entries_.find(first); it != entries_.end() && it->second.bytes <= budget) {
      first_entry = &it->second;
      take(*first_entry);
    }
  }
  int skips = 0;
  for (auto it = order_.begin(); it != order_.end() && out.size() < count_max; ++it) {
    Entry& e = *std::get<Entry*>(*it);
    if (&e == first_entry) continue;
    if (used + e.bytes > budget) {
      if (++skips > kSkipsMax) break;
      continue;
    }
    take(e);
  }
  for (Entry* e : sent) {
    order_.erase(key_of(*e));
    if (++e->sends >= limit) {
      const std::string address = e->change.name;  // the key dies with the entry
      entries_.erase(address);
    } else {
      order_.insert(key_of(*e));
    }
  }
  return used;
}

}  // namespace shoal::membership
