// Copyright shoal authors. Small deterministic hashes for the core's own
// bookkeeping (member hashes of the table checksum, a node's push-pull
// phase). Not for the wire's or the ring's placement (ring.h, XXH3).

#ifndef SHOAL_MEMBERSHIP_HASH_H_
#define SHOAL_MEMBERSHIP_HASH_H_

#include <cstdint>
#include <string_view>

namespace shoal::membership {

// splitmix64's finalizer.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// FNV-1a of the bytes.
inline uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// FNV-1a, then mixed.
inline uint64_t hash_string(std::string_view s) { return mix64(fnv1a(s)); }

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_HASH_H_
