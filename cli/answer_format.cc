// Copyright shoal authors. See answer_format.h.

#include "shoal/cli/answer_format.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace shoal::cli {

namespace {

// printf into a string.
__attribute__((format(printf, 1, 2))) std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch < 0x20 || ch == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string str(const json& j, const char* key) { return printable(get<std::string>(j, key)); }

std::string labels_text(const json& labels) {
  std::string out;
  if (!labels.is_object()) throw std::runtime_error("labels are not an object");
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (!out.empty()) out += ",";
    out += printable(it.key()) + "=" + printable(it.value().get<std::string>());
  }
  return out.empty() ? "-" : out;
}

std::string keys_text(const json& keyring) {
  std::string ids;
  for (const auto& k : get<json>(keyring, "keys"))
    ids += (ids.empty() ? "" : ",") + printable(k.get<std::string>());
  return "primary " + str(keyring, "primary") + ", keys " + ids;
}

std::vector<std::string> alive_members(const json& members) {
  if (!members.is_array()) throw std::runtime_error("members: not a list");
  std::vector<std::string> out;
  for (const auto& m : members) {
    const std::string status = get<std::string>(m, "status");
    if (status == "alive" || status == "suspect") out.push_back(get<std::string>(m, "address"));
  }
  return out;
}

std::string checksum_text(uint64_t checksum) {
  return format("%016llx", static_cast<unsigned long long>(checksum));
}

bool MemberFilter::matches(const json& member) const {
  if (!statuses.empty()) {
    const std::string status = get<std::string>(member, "status");
    if (std::find(statuses.begin(), statuses.end(), status) == statuses.end()) return false;
  }
  const json labels_json = get<json>(member, "labels");
  if (!labels_json.is_object()) throw std::runtime_error("labels are not an object");
  for (const auto& [k, v] : labels) {
    auto it = labels_json.find(k);
    if (it == labels_json.end() || !it->is_string() || it->get<std::string>() != v) return false;
  }
  return true;
}

Printed members_text(const json& members, bool json_out, const MemberFilter& filter) {
  if (!members.is_array()) throw std::runtime_error("members: not a list");
  if (json_out) {
    json shown = json::array();
    for (const auto& m : members) {
      if (filter.matches(m)) shown.push_back(m);
    }
    return {shown.dump(2) + "\n", "", 0};
  }
  // A NAME column only when some member is named (its name is not its
  // address); older nodes answer without names.
  bool named = false;
  for (const auto& m : members)
    named = named || (m.contains("name") && str(m, "name") != str(m, "address"));
  Printed p;
  if (named) p.out = format("%-20s ", "NAME");
  p.out += format("%-28s %-10s %-16s %s\n", "ADDRESS", "STATUS", "INCARNATION", "LABELS");
  for (const auto& m : members) {
    if (!filter.matches(m)) continue;
    if (named) p.out += format("%-20s ", str(m, "name").c_str());
    p.out += format("%-28s %-10s %-16llu %s\n", str(m, "address").c_str(), str(m, "status").c_str(),
                    static_cast<unsigned long long>(get<uint64_t>(m, "incarnation")),
                    labels_text(get<json>(m, "labels")).c_str());
  }
  return p;
}

Printed lookup_text(const std::string& key, const json& answer, bool json_out) {
  if (json_out) {
    json out = answer;
    if (answer.contains("checksum"))
      out["checksum"] = checksum_text(get<uint64_t>(answer, "checksum"));
    return {out.dump() + "\n", "", 0};
  }
  std::string owners;
  const json names = get<json>(answer, "owners");
  // Older nodes answer without addresses: their names are addresses.
  const json addresses = answer.contains("addresses") ? answer["addresses"] : json::array();
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string name = names[i].get<std::string>();
    const std::string at =
        i < addresses.size() && addresses[i].is_string() ? addresses[i].get<std::string>() : name;
    owners += (owners.empty() ? "" : " ") + printable(name);
    if (at != name) owners += " (" + printable(at) + ")";
  }
  return {format("%s -> %s\n", printable(key).c_str(),
                 owners.empty() ? "(no members)" : owners.c_str()),
          "", 0};
}

Printed forward_text(const json& answer, bool json_out, const std::string& command) {
  const bool ok = get<bool>(answer, "ok");
  Printed p;
  p.status = ok ? 0 : 1;
  if (json_out) {
    p.out = answer.dump() + "\n";
  } else if (ok) {
    p.out = format("handled by %s: %s\n", str(answer, "handled_by").c_str(),
                   str(answer, "payload").c_str());
  } else {
    p.err = format("shoal: %s failed: %s (%s)\n", command.c_str(), str(answer, "error").c_str(),
                   str(answer, "message").c_str());
  }
  return p;
}

Printed simple_text(const json& answer, bool json_out) {
  return {answer.dump(json_out ? -1 : 2) + "\n", "", 0};
}

Printed labels_answer_text(const json& answer, bool json_out) {
  const std::string text = str(answer, "address") + " (incarnation " +
                           std::to_string(get<uint64_t>(answer, "incarnation")) +
                           "): " + labels_text(get<json>(answer, "labels")) + "\n";
  if (json_out) return {answer.dump(-1, ' ', true) + "\n", "", 0};
  return {text, "", 0};
}

void StatusReport::unreachable(const std::string& address, const std::string& error) {
  ++unreachable_;
  nodes_.push_back({{"address", address}, {"reachable", false}, {"error", error}});
}

void StatusReport::add(const std::string& address, const json& status) {
  const json ring = get<json>(status, "ring");
  const uint64_t checksum = get<uint64_t>(ring, "checksum");
  by_checksum_[checksum].push_back(address);
  nodes_.push_back({{"address", address},
                    {"reachable", true},
                    {"ring_checksum", checksum_text(checksum)},
                    {"ring_members", get<uint64_t>(ring, "members")},
                    {"incarnation", get<uint64_t>(status, "incarnation")},
                    {"health_score", get<json>(status, "health_score")}});
  // Nodes from before names answer without them.
  if (status.contains("name")) nodes_.back()["name"] = status["name"];
  if (status.contains("displaced_by") && !str(status, "displaced_by").empty()) {
    nodes_.back()["displaced_by"] = status["displaced_by"];
  }
}

Printed StatusReport::printed(bool json_out) const {
  // The majority checksum; the others disagree.
  uint64_t majority = 0;
  size_t best = 0;
  for (const auto& [sum, addrs] : by_checksum_) {
    if (addrs.size() > best) {
      best = addrs.size();
      majority = sum;
    }
  }
  json disagree = json::array();
  for (const auto& [sum, addrs] : by_checksum_) {
    if (sum != majority) {
      for (const auto& a : addrs) disagree.push_back(a);
    }
  }
  Printed p;
  p.status = converged() ? 0 : 1;
  if (json_out) {
    p.out = json({{"converged", converged()},
                  {"checksum", checksum_text(majority)},
                  {"nodes", nodes_},
                  {"disagree", disagree},
                  {"unreachable", unreachable_}})
                .dump(2) +
            "\n";
    return p;
  }
  p.out = format("%-28s %-10s %-18s %s\n", "ADDRESS", "REACHABLE", "RING CHECKSUM", "RING MEMBERS");
  for (const auto& n : nodes_) {
    if (!get<bool>(n, "reachable")) {
      p.out += format("%-28s %-10s %s\n", str(n, "address").c_str(), "no", str(n, "error").c_str());
      continue;
    }
    p.out += format("%-28s %-10s %s   %llu", str(n, "address").c_str(), "yes",
                    str(n, "ring_checksum").c_str(),
                    static_cast<unsigned long long>(get<uint64_t>(n, "ring_members")));
    if (n.contains("name") && str(n, "name") != str(n, "address")) p.out += "   " + str(n, "name");
    if (n.contains("displaced_by")) p.out += "   displaced by " + str(n, "displaced_by");
    p.out += "\n";
  }
  if (converged()) {
    p.out += format("converged: %zu members agree on ring checksum %s\n", nodes_.size(),
                    checksum_text(majority).c_str());
  } else {
    p.out +=
        format("NOT converged: %zu checksums, %zu disagree with the majority, %zu unreachable\n",
               by_checksum_.size(), disagree.size(), unreachable_);
  }
  return p;
}

std::string event_line(const std::string& when, const json& e) {
  const std::string old = str(e, "old_status");
  std::string who = str(e, "address");
  if (e.contains("name") && str(e, "name") != who) who = str(e, "name") + " (" + who + ")";
  std::string line = printable(when) + "  " + who + "  " +
                     (old.empty() ? std::string("new") : old) + " -> " + str(e, "status") +
                     "  incarnation " + std::to_string(get<uint64_t>(e, "incarnation"));
  if (get<bool>(e, "forgotten")) line += "  (forgotten)";
  const std::string source = str(e, "source");
  if (!source.empty()) line += "  from " + source;
  return line + "  labels " + labels_text(get<json>(e, "labels"));
}

namespace {

char status_letter(const std::string& status) {
  if (status == "alive") return 'a';
  if (status == "suspect") return 'S';
  if (status == "faulty") return 'F';
  if (status == "leave") return 'L';
  return '?';
}

}  // namespace

Printed top_text(const std::vector<std::pair<std::string, const json*>>& views, bool json_out) {
  // Columns: every member anyone knows, sorted.
  std::map<std::string, size_t> column;
  std::vector<std::map<std::string, std::string>> seen(views.size());
  for (size_t r = 0; r < views.size(); ++r) {
    column.emplace(views[r].first, 0);
    if (views[r].second == nullptr) continue;
    if (!views[r].second->is_array()) throw std::runtime_error("members: not a list");
    for (const auto& m : *views[r].second) {
      const std::string address = get<std::string>(m, "address");
      seen[r][address] = get<std::string>(m, "status");
      column.emplace(address, 0);
    }
  }
  size_t i = 0;
  for (auto& [address, c] : column) c = i++;
  if (json_out) {
    json out = json::object();
    for (size_t r = 0; r < views.size(); ++r) {
      out[views[r].first] = views[r].second ? json(seen[r]) : json(nullptr);
    }
    return {out.dump(2) + "\n", "", 0};
  }
  Printed p;
  p.out = format("%-4s %-28s  %s\n", "#", "MEMBER", "VIEW OF EACH MEMBER (column = #)");
  std::string digits;
  for (size_t c = 0; c < column.size(); ++c) digits += static_cast<char>('0' + c % 10);
  p.out += format("%-4s %-28s  %s\n", "", "", digits.c_str());
  size_t disagree = 0;
  for (size_t r = 0; r < views.size(); ++r) {
    std::string row(column.size(), '.');
    for (const auto& [address, status] : seen[r]) row[column[address]] = status_letter(status);
    const size_t self = column[views[r].first];
    if (views[r].second == nullptr) row = "unreachable";
    p.out += format("%-4zu %-28s  %s\n", self, printable(views[r].first).c_str(), row.c_str());
    if (views[r].second != nullptr && r > 0 && views[0].second != nullptr && seen[r] != seen[0]) {
      ++disagree;
    }
  }
  p.out += format(
      "%zu members asked, %zu columns; a=alive S=suspect F=faulty L=leave .=unknown; "
      "%zu views differ from the first\n",
      views.size(), column.size(), disagree);
  return p;
}

}  // namespace shoal::cli
