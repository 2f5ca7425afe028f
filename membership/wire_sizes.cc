// Copyright shoal authors. Exact proto3 encoded sizes of the membership
// messages, computed by hand so that the core can pack changes into the
// datagram budget without linking protobuf.
//
// The arithmetic follows the protobuf encoding (protobuf.dev "Encoding"):
//   * every field is a tag, varint(field_number << 3 | wire_type), then its
//     value; all field numbers in shoal.proto are below 16, so every tag is
//     one byte;
//   * proto3 omits scalar fields holding their zero value (0, false, "",
//     the first enum value); submessages set in a oneof or repeated field
//     are always written, even when empty;
//   * a length-delimited value (string, submessage, map entry) is
//     varint(length) followed by the bytes;
//   * a map<string, string> is a repeated submessage {key = 1, value = 2}
//     whose key and value are written even when empty (protobuf's
//     MapEntryFuncs always writes both);
//   * fixed64 is 8 bytes after its tag.
// tests/proto/codec_test.cc checks every function here against the
// generated code's ByteSizeLong() on randomized messages.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "shoal/membership/messages.h"
#include "shoal/membership/types.h"

namespace shoal::membership {
namespace {

// Every field number in shoal.proto is below 16: (15 << 3 | 7) < 128.
constexpr size_t kTagBytes = 1;
constexpr size_t kFixed64Bytes = 8;

// Bytes of `v` as a base-128 varint: 7 payload bits per byte.
constexpr size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
static_assert(varint_size(0) == 1 && varint_size(127) == 1 && varint_size(128) == 2);
static_assert(varint_size(UINT64_MAX) == 10);

// A length-delimited value that is always written (submessage in a oneof,
// element of a repeated field, map entry).
constexpr size_t delimited_size(size_t payload) {
  return kTagBytes + varint_size(payload) + payload;
}

// proto3 scalars: nothing at all when zero or empty.
constexpr size_t string_field_size(size_t length) {
  return length == 0 ? 0 : delimited_size(length);
}
constexpr size_t varint_field_size(uint64_t v) { return v == 0 ? 0 : kTagBytes + varint_size(v); }
constexpr size_t fixed64_field_size(uint64_t v) { return v == 0 ? 0 : kTagBytes + kFixed64Bytes; }
constexpr size_t bool_field_size(bool b) { return b ? kTagBytes + 1 : 0; }
// Status values are non-negative, so the enum is a plain varint.
constexpr size_t status_field_size(Status s) { return varint_field_size(static_cast<uint64_t>(s)); }

size_t labels_size(const Labels& labels) {
  size_t total = 0;
  for (const auto& [key, value] : labels) {
    // Key and value are written even when empty, unlike proto3 scalars.
    total += delimited_size(delimited_size(key.size()) + delimited_size(value.size()));
  }
  return total;
}

size_t changes_size(const std::vector<Change>& changes) {
  size_t total = 0;
  for (const Change& c : changes) total += encoded_change_size(c);
  return total;
}

size_t app_size(const std::vector<AppMessage>& app) {
  size_t total = 0;
  for (const AppMessage& a : app) total += encoded_app_size(a);
  return total;
}

// Body sizes (the submessage payload, without its own tag and length).
size_t body_size(const Ping& m) {
  return varint_field_size(m.seq) + string_field_size(m.source.size()) +
         string_field_size(m.target.size()) + fixed64_field_size(m.checksum) +
         changes_size(m.changes) + app_size(m.app);
}
size_t body_size(const PingReq& m) {
  return varint_field_size(m.seq) + string_field_size(m.source.size()) +
         string_field_size(m.target.size()) + fixed64_field_size(m.checksum) +
         bool_field_size(m.want_nack) + changes_size(m.changes) + app_size(m.app);
}
size_t body_size(const Ack& m) {
  return varint_field_size(m.seq) + string_field_size(m.source.size()) +
         fixed64_field_size(m.checksum) + changes_size(m.changes) + app_size(m.app);
}
size_t body_size(const Nack& m) {
  return varint_field_size(m.seq) + string_field_size(m.source.size()) + changes_size(m.changes) +
         app_size(m.app);
}
size_t body_size(const Gossip& m) {
  return string_field_size(m.source.size()) + fixed64_field_size(m.checksum) +
         changes_size(m.changes) + app_size(m.app);
}
size_t body_size(const QueryAnswer& m) {
  return varint_field_size(m.id) + string_field_size(m.source.size()) + bool_field_size(m.ack) +
         string_field_size(m.payload.size());
}

}  // namespace

size_t encoded_change_size(const Change& c) {
  // The codec writes the address only when it is not the name.
  const size_t address = c.address == c.name ? 0 : string_field_size(c.address.size());
  const size_t body = string_field_size(c.name.size()) + status_field_size(c.status) +
                      varint_field_size(c.incarnation) + labels_size(c.labels) +
                      string_field_size(c.source.size()) + varint_field_size(c.source_incarnation) +
                      address;
  return delimited_size(body);
}

size_t encoded_app_size(const AppMessage& a) {
  size_t names = 0;
  for (const std::string& n : a.filter_names) names += delimited_size(n.size());
  const size_t body =
      varint_field_size(static_cast<uint64_t>(a.kind)) + string_field_size(a.origin.size()) +
      varint_field_size(a.epoch) + varint_field_size(a.seq) + string_field_size(a.name.size()) +
      string_field_size(a.payload.size()) + bool_field_size(a.coalesce) +
      string_field_size(a.reply_to.size()) + varint_field_size(a.timeout_ms) +
      bool_field_size(a.want_ack) + names + labels_size(a.filter_labels) + varint_field_size(a.id);
  return delimited_size(body);
}

size_t encoded_envelope_size(const Message& m, size_t cluster_size) {
  const size_t body = std::visit([](const auto& b) { return body_size(b); }, m);
  return varint_field_size(kProtocolVersion) + string_field_size(cluster_size) +
         varint_field_size(kProtocolMinor) + delimited_size(body);
}

}  // namespace shoal::membership
