// Copyright shoal authors. See answers.h.

#include "shoal/cli/answers.h"

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

Printed members_text(const json& members, bool json_out) {
  if (json_out) return {members.dump(2) + "\n", "", 0};
  Printed p;
  p.out = format("%-28s %-10s %-16s %s\n", "ADDRESS", "STATUS", "INCARNATION", "LABELS");
  if (!members.is_array()) throw std::runtime_error("members: not a list");
  for (const auto& m : members) {
    p.out += format("%-28s %-10s %-16llu %s\n", str(m, "address").c_str(), str(m, "status").c_str(),
                    static_cast<unsigned long long>(get<uint64_t>(m, "incarnation")),
                    labels_text(get<json>(m, "labels")).c_str());
  }
  return p;
}

Printed lookup_text(const std::string& key, const json& answer, bool json_out) {
  if (json_out) return {answer.dump() + "\n", "", 0};
  std::string owners;
  for (const auto& o : get<json>(answer, "owners")) {
    owners += (owners.empty() ? "" : " ") + printable(o.get<std::string>());
  }
  return {format("%s -> %s\n", printable(key).c_str(),
                 owners.empty() ? "(no members)" : owners.c_str()),
          "", 0};
}

Printed forward_text(const json& answer, bool json_out) {
  const bool ok = get<bool>(answer, "ok");
  Printed p;
  p.status = ok ? 0 : 1;
  if (json_out) {
    p.out = answer.dump() + "\n";
  } else if (ok) {
    p.out = format("handled by %s: %s\n", str(answer, "handled_by").c_str(),
                   str(answer, "payload").c_str());
  } else {
    p.err = format("shoal: forward failed: %s (%s)\n", str(answer, "error").c_str(),
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
                    {"ring_checksum", checksum},
                    {"ring_members", get<uint64_t>(ring, "members")},
                    {"incarnation", get<uint64_t>(status, "incarnation")},
                    {"health_score", get<json>(status, "health_score")}});
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
                  {"checksum", majority},
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
    p.out += format("%-28s %-10s %016llx   %llu\n", str(n, "address").c_str(), "yes",
                    static_cast<unsigned long long>(get<uint64_t>(n, "ring_checksum")),
                    static_cast<unsigned long long>(get<uint64_t>(n, "ring_members")));
  }
  if (converged()) {
    p.out += format("converged: %zu members agree on ring checksum %016llx\n", nodes_.size(),
                    static_cast<unsigned long long>(majority));
  } else {
    p.out +=
        format("NOT converged: %zu checksums, %zu disagree with the majority, %zu unreachable\n",
               by_checksum_.size(), disagree.size(), unreachable_);
  }
  return p;
}

}  // namespace shoal::cli
