// Fuzz target for cli/snapshot.h parse_snapshot: the text of shoald's
// --snapshot file, which a crash, a full disk or another hand may have
// left in any state.
//
// Checks, each a trap when broken:
//   * the result is members or a reason, never both;
//   * members come only within the bounds, each address a host:port;
//   * written back (encode_snapshot) and parsed again they are the same
//     members, in order.
// Built as shoal_snapshot_fuzzer (libFuzzer) and as
// shoal_snapshot_fuzz_replay (ctest fuzz.snapshot_replay).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/cli/snapshot.h"
#include "shoal/node/host_port.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using shoal::cli::SnapshotMember;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  const std::optional<std::vector<SnapshotMember>> members = shoal::cli::parse_snapshot(text, &why);
  check(members.has_value() == why.empty());
  if (!members) return 0;
  check(text.size() <= shoal::cli::kSnapshotBytesMax);
  check(members->size() <= shoal::cli::kSnapshotMembersMax);
  for (const SnapshotMember& m : *members) {
    check(shoal::node::parse_host_port(m.address).has_value());
  }
  const std::string again = shoal::cli::encode_snapshot(*members);
  const auto back = shoal::cli::parse_snapshot(again, nullptr);
  // Names with invalid UTF-8 are replaced on the way out; else the same.
  if (back) {
    check(back->size() == members->size());
    for (size_t i = 0; i < members->size(); ++i) check((*back)[i].address == (*members)[i].address);
  }
  return 0;
}
