// Copyright shoal authors.

#include "wire.h"

#include <charconv>

namespace kv {

void encode_to(const Entry& e, std::string& out) {
  out += std::to_string(e.key.size());
  out += ' ';
  out += std::to_string(e.value.size());
  out += ' ';
  out += std::to_string(e.version);
  out += '\n';
  out += e.key;
  out += e.value;
}

std::string encode(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& e : entries) encode_to(e, out);
  return out;
}

namespace {

// Parses a decimal number ending in `end` from the front of `in`.
bool number(std::string_view& in, char end, uint64_t& out) {
  const char* first = in.data();
  const char* last = in.data() + in.size();
  auto [p, ec] = std::from_chars(first, last, out);
  if (ec != std::errc() || p == first || p == last || *p != end) return false;
  in.remove_prefix(static_cast<size_t>(p - first) + 1);
  return true;
}

}  // namespace

std::optional<std::vector<Entry>> decode(std::string_view bytes) {
  std::vector<Entry> out;
  while (!bytes.empty()) {
    uint64_t key_bytes = 0;
    uint64_t value_bytes = 0;
    Entry e;
    if (!number(bytes, ' ', key_bytes) || !number(bytes, ' ', value_bytes) ||
        !number(bytes, '\n', e.version)) {
      return std::nullopt;
    }
    if (key_bytes == 0 || key_bytes > kKeyBytesMax || value_bytes > kValueBytesMax ||
        key_bytes + value_bytes > bytes.size()) {
      return std::nullopt;
    }
    e.key.assign(bytes.substr(0, key_bytes));
    e.value.assign(bytes.substr(key_bytes, value_bytes));
    bytes.remove_prefix(key_bytes + value_bytes);
    out.push_back(std::move(e));
  }
  return out;
}

std::string escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool split_host_port(std::string_view address, std::string& host, int& port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view p = address.substr(colon + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || end != p.data() + p.size() || port <= 0 || port > 65535) return false;
  host.assign(address.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return true;
}

}  // namespace kv
