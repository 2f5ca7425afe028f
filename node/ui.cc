// Copyright shoal authors. See ui.h.

#include "shoal/node/ui.h"

#include <nlohmann/json.hpp>

namespace shoal::node {

using nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The value of `name` in a query string, percent-decoded ('+' is a
// space); nullopt if absent or badly encoded.
std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string_view raw = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        out += ' ';
      } else if (raw[i] != '%') {
        out += raw[i];
      } else if (i + 2 < raw.size() && hex(raw[i + 1]) >= 0 && hex(raw[i + 2]) >= 0) {
        out += static_cast<char>(hex(raw[i + 1]) * 16 + hex(raw[i + 2]));
        i += 2;
      } else {
        return std::nullopt;
      }
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace

std::pair<std::string, std::string> Ui::serve(std::string_view target, membership::Instant now) {
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  if (path == "/ui" || path == "/ui/") return {"text/html; charset=utf-8", kUiPage};
  if (path == "/ui/state") return {"application/json", state(now)};
  if (path == "/ui/key") return key_owners(query);
  return {"", ""};
}

Ui::View Ui::view() const {
  View v;
  for (const auto& m : engine_.core().members()) v[m.name] = std::string(to_string(m.status));
  return v;
}

std::string Ui::own_view() const { return dump(json(view())); }

std::pair<std::string, std::string> Ui::key_owners(std::string_view query) const {
  std::optional<std::string> key = query_value(query, "k");
  if (!key || key->size() > kKeyBytesMax) {
    return {"400", "a key is ?k=<percent-encoded key>, at most 1024 bytes\n"};
  }
  auto ring = engine_.ring().current();
  json owners = json::array();
  for (std::string_view m : ring->lookup_n(*key, 3)) owners.push_back(std::string(m));
  return {"application/json", dump({{"key", *key}, {"owners", owners}})};
}

void Ui::refresh_views(membership::Instant now) {
  if (asked_at_ != membership::Instant{} && now - asked_at_ < std::chrono::seconds(1)) return;
  asked_at_ = now;
  views_[engine_.name()] = view();
  size_t asked = 0;
  for (const auto& m : engine_.core().members()) {
    if (m.name == engine_.name()) continue;
    if (m.status != membership::Status::kAlive && m.status != membership::Status::kSuspect) {
      views_.erase(m.name);  // a departed member's last view is no view
      continue;
    }
    if (++asked > kViewsMax) break;
    ForwardOptions o;
    o.timeout = std::chrono::milliseconds(900);
    o.retries = 0;
    o.endpoint = kViewEndpoint;
    engine_.request(
        m.name, "", o,
        [this, name = m.name](ForwardResult r) {
          if (!r.ok()) return views_.erase(name), void();
          json j = json::parse(r.payload, nullptr, false);
          if (!j.is_object()) return;
          View v;
          for (auto it = j.begin(); it != j.end() && v.size() < 4096; ++it) {
            if (it.value().is_string()) v[it.key()] = it.value().get<std::string>();
          }
          views_[name] = std::move(v);
        },
        now);
  }
}

const std::map<std::string, double>& Ui::shares() {
  auto ring = engine_.ring().current();
  if (ring == shares_ring_) return shares_;
  // Each member's share of the hash space, from evenly spread samples.
  constexpr uint64_t kSamples = 16384;
  std::map<std::string, uint64_t> owned;
  for (std::string_view m : ring->members()) owned[std::string(m)] = 0;
  for (uint64_t i = 0; i < kSamples && ring->member_count() > 0; ++i) {
    ++owned[std::string(ring->lookup_hash(i * (UINT64_MAX / kSamples)))];
  }
  shares_.clear();
  for (const auto& [m, n] : owned) {
    shares_[m] = static_cast<double>(n) / static_cast<double>(kSamples);
  }
  shares_ring_ = std::move(ring);
  return shares_;
}

std::string Ui::state(membership::Instant now) {
  refresh_views(now);
  json members = json::array();
  for (const auto& m : engine_.core().members()) {
    members.push_back({{"name", m.name},
                       {"address", address_of(m)},
                       {"status", std::string(to_string(m.status))},
                       {"incarnation", m.incarnation},
                       {"labels", m.labels}});
  }
  json events = json::array();
  const auto& log = engine_.event_log();
  const size_t from = log.size() > kEventsShown ? log.size() - kEventsShown : 0;
  for (size_t i = log.size(); i-- > from;) {
    const auto& e = log[i].event;
    events.push_back({{"seq", log[i].seq},
                      {"member", e.name},
                      {"from", e.old_status ? std::string(to_string(*e.old_status)) : "new"},
                      {"to", e.forgotten ? "forgotten" : std::string(to_string(e.status))},
                      {"incarnation", e.incarnation},
                      {"source", e.source}});
  }
  return dump({{"self", engine_.name()},
               {"cluster", engine_.cluster()},
               {"members", members},
               {"views", views_},
               {"shares", shares()},
               {"events", events}});
}

}  // namespace shoal::node
