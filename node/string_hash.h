// Copyright shoal authors. A transparent hash for unordered containers
// keyed by std::string: find() with a std::string_view, no temporary
// string (peer tables looked up on every datagram).

#ifndef SHOAL_NODE_STRING_HASH_H_
#define SHOAL_NODE_STRING_HASH_H_

#include <cstddef>
#include <functional>
#include <string_view>

namespace shoal::node {

// Use with std::equal_to<> as the key equality.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_STRING_HASH_H_
