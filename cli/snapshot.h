// Copyright shoal authors. shoald --snapshot PATH: the last members this
// node knew alive, so that a restart whose seeds are all gone (moved,
// replaced) rejoins through them (serf's -snapshot, members only).
//
//   {"version": 1, "members": [{"name": "node-3", "address": "10.0.0.3:7946"}, ...]}
//
// The file is a cache, never trusted for more than seeds: each address
// goes through parse_host_port like any seed, and the node joins through
// it as through any seed (a member that is not there does not answer).
// Bounds: at most kSnapshotMembersMax members and kSnapshotBytesMax bytes.
// Here the text (pure: tests/fuzz/snapshot_fuzzer.cc); the file, its mode
// and its writer are in snapshot_file.h (shoald only).

#ifndef SHOAL_CLI_SNAPSHOT_H_
#define SHOAL_CLI_SNAPSHOT_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::cli {

inline constexpr size_t kSnapshotMembersMax = 4096;
inline constexpr size_t kSnapshotBytesMax = 1 << 20;

struct SnapshotMember {
  std::string name;
  std::string address;
  bool operator==(const SnapshotMember&) const = default;
};

// The snapshot's text for `members` (at most kSnapshotMembersMax: the
// first ones by name are kept).
std::string encode_snapshot(const std::vector<SnapshotMember>& members);
// The members in `text`; nullopt if it is not a snapshot within the bounds
// (every address a host:port), and `why` (if given) says what is wrong.
std::optional<std::vector<SnapshotMember>> parse_snapshot(std::string_view text, std::string* why);
}  // namespace shoal::cli

#endif  // SHOAL_CLI_SNAPSHOT_H_
