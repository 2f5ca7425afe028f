// Copyright shoal authors. A sorted map with a hash index beside it.
//
// The member table must iterate in name order (checksums, full syncs and
// listings are deterministic), and it is looked up by name on every claim
// and datagram. In a std::map that lookup is a walk of ~log2(N) string
// compares over names that share long prefixes ("10.0.3.17:7946"): 19% of
// the simulator's CPU at 1000 nodes (perf), plus memcmp. So lookups go
// through an unordered index of the map's nodes (their iterators stay
// valid until erased); iteration and the rest stay the map's.
//
// Only what the member table uses: find, count, emplace, erase, begin,
// end, size. Not thread-safe (one owner, as the core).

#ifndef SHOAL_MEMBERSHIP_INDEXED_MAP_H_
#define SHOAL_MEMBERSHIP_INDEXED_MAP_H_

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace shoal::membership {

template <class V>
class IndexedMap {
  using Map = std::map<std::string, V, std::less<>>;

 public:
  using iterator = typename Map::iterator;
  using const_iterator = typename Map::const_iterator;

  IndexedMap() = default;
  // The index holds views of the map's keys and its iterators: a copy
  // would point into the original.
  IndexedMap(const IndexedMap&) = delete;
  IndexedMap& operator=(const IndexedMap&) = delete;

  iterator find(std::string_view key) {
    auto it = index_.find(key);
    return it == index_.end() ? map_.end() : it->second;
  }
  const_iterator find(std::string_view key) const {
    auto it = index_.find(key);
    return it == index_.end() ? map_.end() : const_iterator(it->second);
  }
  size_t count(std::string_view key) const { return index_.count(key); }
  std::pair<iterator, bool> emplace(std::string key, V value) {
    auto [it, inserted] = map_.emplace(std::move(key), std::move(value));
    if (inserted) index_.emplace(std::string_view(it->first), it);
    return {it, inserted};
  }
  iterator erase(iterator it) {
    index_.erase(std::string_view(it->first));
    return map_.erase(it);
  }
  iterator begin() { return map_.begin(); }
  iterator end() { return map_.end(); }
  const_iterator begin() const { return map_.begin(); }
  const_iterator end() const { return map_.end(); }
  size_t size() const { return map_.size(); }

 private:
  Map map_;
  std::unordered_map<std::string_view, iterator> index_;
};

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_INDEXED_MAP_H_
