// Copyright shoal authors. "KEY=VALUE" arguments (--label, --admit-label,
// shoal query --label), parsed one way for every command.

#ifndef SHOAL_CLI_KEY_VALUE_H_
#define SHOAL_CLI_KEY_VALUE_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace shoal::cli {

// "K=V" as {K, V}, split at the first '='; nullopt without '=' or with an
// empty K. V may be empty or hold more '='.
inline std::optional<std::pair<std::string, std::string>> key_value(std::string_view item) {
  const size_t eq = item.find('=');
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  return std::pair(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
}

}  // namespace shoal::cli

#endif  // SHOAL_CLI_KEY_VALUE_H_
