// Copyright shoal authors. See seeds_file.h.

#include "shoal/cli/seeds_file.h"

#include <nlohmann/json.hpp>

namespace shoal::cli {

std::optional<std::vector<std::string>> parse_seeds_json(std::string_view text, std::string* why) {
  auto fail = [&](const char* what) -> std::optional<std::vector<std::string>> {
    if (why != nullptr) *why = what;
    return std::nullopt;
  };
  const auto j = nlohmann::json::parse(text.data(), text.data() + text.size(), nullptr,
                                       /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array())
    return fail("is not a JSON array of \"host:port\" strings");
  std::vector<std::string> seeds;
  for (const auto& e : j) {
    if (!e.is_string()) return fail("has a non-string entry");
    seeds.push_back(e.get<std::string>());
  }
  return seeds;
}

}  // namespace shoal::cli
