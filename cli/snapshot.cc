// Copyright shoal authors. See snapshot.h.

#include "shoal/cli/snapshot.h"

#include <nlohmann/json.hpp>

#include "shoal/node/host_port.h"

namespace shoal::cli {

using nlohmann::json;

std::string encode_snapshot(const std::vector<SnapshotMember>& members) {
  json list = json::array();
  for (const SnapshotMember& m : members) {
    if (list.size() >= kSnapshotMembersMax) break;
    list.push_back({{"name", m.name}, {"address", m.address}});
  }
  return json{{"version", 1}, {"members", std::move(list)}}.dump(-1, ' ', false,
                                                                 json::error_handler_t::replace) +
         "\n";
}

std::optional<std::vector<SnapshotMember>> parse_snapshot(std::string_view text, std::string* why) {
  auto fail = [why](std::string reason) -> std::optional<std::vector<SnapshotMember>> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  if (text.size() > kSnapshotBytesMax)
    return fail("is over " + std::to_string(kSnapshotBytesMax) + " bytes");
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("is not a JSON object (truncated?)");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || *version != 1) {
    return fail("has no \"version\": 1");
  }
  auto list = j.find("members");
  if (list == j.end() || !list->is_array()) return fail("has no \"members\" array");
  if (list->size() > kSnapshotMembersMax) {
    return fail("has over " + std::to_string(kSnapshotMembersMax) + " members");
  }
  std::vector<SnapshotMember> out;
  for (const json& m : *list) {
    if (!m.is_object() || !m.contains("name") || !m.contains("address") || !m["name"].is_string() ||
        !m["address"].is_string()) {
      return fail("has a member without a string name and address");
    }
    SnapshotMember s{m["name"].get<std::string>(), m["address"].get<std::string>()};
    std::string error;
    if (!node::parse_host_port(s.address, &error)) {
      return fail("has a member whose address is not host:port: " + error);
    }
    out.push_back(std::move(s));
  }
  if (why != nullptr) why->clear();
  return out;
}

}  // namespace shoal::cli
