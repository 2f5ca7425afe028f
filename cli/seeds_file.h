// Copyright shoal authors. shoald's --seeds-file: a JSON array of
// "host:port" strings (Ringpop's hosts file), e.g.
//
//   ["10.0.0.1:7946", "10.0.0.2:7946", "db-3.internal:7946"]
//
// Only the shape is checked here; each seed is checked, as every seed is,
// by NodeOptions::validate (parse_host_port). Pure: shoald reads the file
// and passes the text (tests/fuzz/seeds_file_fuzzer.cc fuzzes this).

#ifndef SHOAL_CLI_SEEDS_FILE_H_
#define SHOAL_CLI_SEEDS_FILE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::cli {

// The seeds in `text`, in order; nullopt if it is not a JSON array of
// strings, and `why` (if given) says so: "is not a JSON array of
// \"host:port\" strings" or "has a non-string entry" (the caller names the
// file before it).
std::optional<std::vector<std::string>> parse_seeds_json(std::string_view text, std::string* why);

}  // namespace shoal::cli

#endif  // SHOAL_CLI_SEEDS_FILE_H_
