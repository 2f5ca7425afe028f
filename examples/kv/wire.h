// Copyright shoal authors. What the kv example's processes send each other
// over HTTP: versioned entries, and batches of them.
//
// A batch is entries one after another, each a header line and two
// strings: "<key bytes> <value bytes> <version>\n" then the key and the
// value, raw (any bytes). decode() refuses anything else.

#ifndef SHOAL_EXAMPLES_KV_WIRE_H_
#define SHOAL_EXAMPLES_KV_WIRE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

// A value and its version: the client gives every write a version, larger
// for later writes of a key; every copy keeps the highest it has seen, so
// copies merge in any order to the last write.
struct Entry {
  std::string key;
  uint64_t version = 0;
  std::string value;
};

inline constexpr size_t kKeyBytesMax = 1024;
inline constexpr size_t kValueBytesMax = 1 << 20;

std::string encode(const std::vector<Entry>& entries);
void encode_to(const Entry& e, std::string& out);
// nullopt if `bytes` is not a well-formed batch within the bounds.
std::optional<std::vector<Entry>> decode(std::string_view bytes);

// `s` with every byte but [A-Za-z0-9-._~] percent-encoded, for a URL path.
std::string escape(std::string_view s);

// "host:port" into its parts; false if it is not one.
bool split_host_port(std::string_view address, std::string& host, int& port);

}  // namespace kv

#endif  // SHOAL_EXAMPLES_KV_WIRE_H_
