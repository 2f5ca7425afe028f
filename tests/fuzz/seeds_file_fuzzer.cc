// Fuzz target for cli/seeds_file.h parse_seeds_json: the text of shoald's
// --seeds-file, then each seed as NodeOptions::validate checks it.
//
// The input is the file's text. Checks, each a trap when broken:
//   * the result is seeds or a reason, never both; the reason is one of
//     the two the header names (shoald prints it after the file name);
//   * seeds come exactly when the text is a JSON array of strings, and
//     they are its strings in order: written back as a JSON array and
//     parsed again they are the same seeds (nothing dropped, reordered or
//     altered);
//   * every seed goes through parse_host_port (as validate does) without
//     harm, and one that parses prints as text that parses to itself.
// Built as shoal_seeds_file_fuzzer (libFuzzer) and as
// shoal_seeds_file_fuzz_replay (ctest fuzz.seeds_file_replay).

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/cli/seeds_file.h"
#include "shoal/node/host_port.h"

namespace {

using nlohmann::json;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool is_array_of_strings(const json& j) {
  if (!j.is_array()) return false;
  for (const json& e : j) {
    if (!e.is_string()) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  const std::optional<std::vector<std::string>> seeds = shoal::cli::parse_seeds_json(text, &why);
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  check(seeds.has_value() == (!j.is_discarded() && is_array_of_strings(j)));
  if (!seeds) {
    check(why == "is not a JSON array of \"host:port\" strings" || why == "has a non-string entry");
    check((why == "has a non-string entry") == (!j.is_discarded() && j.is_array()));
    return 0;
  }
  check(why.empty());
  check(seeds->size() == j.size());
  // Back to a file and read again: the same seeds.
  const std::string again = json(*seeds).dump();
  const std::optional<std::vector<std::string>> back = shoal::cli::parse_seeds_json(again, nullptr);
  check(back.has_value() && *back == *seeds);
  for (const std::string& s : *seeds) {
    std::string error;
    const auto hp = shoal::node::parse_host_port(s, &error);
    check(hp.has_value() == error.empty());
    if (hp) check(shoal::node::parse_host_port(hp->to_string()).has_value());
  }
  return 0;
}
