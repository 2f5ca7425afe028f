// Copyright shoal authors. App gossip (contract in app_gossip.h).

#include "shoal/membership/app_gossip.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "shoal/membership/member_address.h"

namespace shoal::membership {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':' || c == '/';
}

}  // namespace

std::string check_app_name(const std::string& n, std::string_view field) {
  if (n.empty()) return std::string(field) + ": empty";
  if (n.size() > kAppNameMax) {
    return std::string(field) + ": " + std::to_string(n.size()) + " bytes, over " +
           std::to_string(kAppNameMax);
  }
  if (!std::all_of(n.begin(), n.end(), name_char)) {
    return std::string(field) + ": only letters, digits and . _ - : / are allowed";
  }
  return {};
}

std::string_view to_string(AppKind k) {
  switch (k) {
    case AppKind::kBroadcast:
      return "broadcast";
    case AppKind::kEvent:
      return "event";
    case AppKind::kQuery:
      return "query";
  }
  return "unknown";
}

std::string check_app_message(const AppMessage& a) {
  if (static_cast<int>(a.kind) >= kAppKindCount) return "kind: unknown";
  if (a.origin.empty()) return "origin: empty";
  if (std::string p = check_member_name(a.origin); !p.empty()) return "origin: " + p;
  if (std::string p = check_app_name(a.name); !p.empty()) return p;
  if (a.kind != AppKind::kQuery) return {};
  if (std::string p = check_member_address(a.reply_to); !p.empty()) return "reply_to: " + p;
  for (const std::string& n : a.filter_names) {
    if (std::string p = check_member_name(n); !p.empty() || n.empty()) {
      return "filter_names: " + (n.empty() ? std::string("empty") : p);
    }
  }
  if (std::string p = check_labels(a.filter_labels); !p.empty()) return "filter_labels: " + p;
  return {};
}

AppGossip::AppGossip(std::string self, std::string address, uint64_t epoch,
                     size_t message_bytes_max, MembershipStats& stats, Options options)
    : self_(std::move(self)),
      address_(std::move(address)),
      epoch_(epoch),
      message_bytes_max_(message_bytes_max),
      stats_(stats),
      options_(options) {
  events_.slots.resize(options_.buffer);
  queries_.slots.resize(options_.buffer);
}

// ------------------------------------------------------------- sending

std::string AppGossip::check_size(const AppMessage& a) const {
  const size_t bytes = encoded_app_size(a);
  if (bytes <= message_bytes_max_) return {};
  AppMessage empty = a;
  empty.payload.clear();
  const size_t fixed = encoded_app_size(empty) + 2;  // the payload's tag and length
  const size_t room = message_bytes_max_ > fixed ? message_bytes_max_ - fixed : 0;
  return std::string(to_string(a.kind)) + " '" + a.name + "': " + std::to_string(bytes) +
         " bytes encoded, over the " + std::to_string(message_bytes_max_) +
         " one datagram leaves it (a payload of at most about " + std::to_string(room) +
         " bytes fits)";
}

std::string AppGossip::broadcast(std::string name, std::string payload) {
  AppMessage a;
  a.kind = AppKind::kBroadcast;
  a.origin = self_;
  a.epoch = epoch_;
  a.seq = broadcast_seq_ + 1;
  a.name = std::move(name);
  a.payload = std::move(payload);
  if (std::string p = check_app_message(a); !p.empty()) return "broadcast: " + p;
  if (std::string p = check_size(a); !p.empty()) return p;
  ++broadcast_seq_;
  ++stats_.app_broadcasts_sent;
  note_broadcast(a);
  enqueue(std::move(a));
  return {};
}

std::string AppGossip::event(std::string name, std::string payload, bool coalesce, Instant now) {
  AppMessage a;
  a.kind = AppKind::kEvent;
  a.origin = self_;
  a.seq = events_.clock;
  a.name = std::move(name);
  a.payload = std::move(payload);
  a.coalesce = coalesce;
  if (std::string p = check_app_message(a); !p.empty()) return "event: " + p;
  if (std::string p = check_size(a); !p.empty()) return p;
  ++stats_.app_events_sent;
  note_time(events_, a);
  enqueue(a);
  deliver_event(std::move(a), now);
  return {};
}

std::string AppGossip::query(const QuerySpec& spec, const Labels& self_labels, uint64_t id,
                             Instant now) {
  if (open_.size() >= options_.open_queries_max) {
    return "query: " + std::to_string(open_.size()) + " queries of this node are open already";
  }
  if (open_.count(id) != 0) return "query: id in use";
  AppMessage q;
  q.kind = AppKind::kQuery;
  q.origin = self_;
  q.seq = queries_.clock;
  q.id = id;
  q.name = spec.name;
  q.payload = spec.payload;
  q.reply_to = address_;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(spec.timeout).count();
  q.timeout_ms = static_cast<uint32_t>(std::clamp<int64_t>(ms, 1, UINT32_MAX));
  q.want_ack = spec.want_ack;
  q.filter_names = spec.names;
  q.filter_labels = spec.labels;
  if (std::string p = check_app_message(q); !p.empty()) return "query: " + p;
  if (std::string p = check_size(q); !p.empty()) return p;
  ++stats_.app_queries_sent;
  open_[id].deadline = now + spec.timeout;
  note_time(queries_, q);
  enqueue(q);
  deliver_query(q, self_labels, now);
  return {};
}

std::string AppGossip::answer(uint64_t id, std::string payload, size_t datagram_budget,
                              size_t cluster_size, std::string& to, QueryAnswer& out) {
  auto it = to_answer_.find(id);
  if (it == to_answer_.end()) {
    return "query " + std::to_string(id) +
           ": not awaiting an answer here (answered, timed out, "
           "or never delivered)";
  }
  QueryAnswer a{id, self_, false, std::move(payload)};
  const size_t bytes = encoded_envelope_size(Message(a), cluster_size);
  if (bytes > datagram_budget) {
    return "query answer: " + std::to_string(bytes) + " bytes encoded, over the datagram budget " +
           std::to_string(datagram_budget);
  }
  to = it->second.reply_to;
  to_answer_.erase(it);
  out = std::move(a);
  ++stats_.app_answers_sent;
  stats_.app_bytes_sent += bytes;
  return {};
}

// --------------------------------------------------------------- queue

void AppGossip::enqueue(AppMessage a) {
  if (a.kind == AppKind::kBroadcast) {
    // A newer broadcast of the same (origin, name) replaces the queued one.
    auto q = queued_broadcast_.find(std::pair(a.origin, a.name));
    if (q != queued_broadcast_.end()) {
      auto e = entries_.find(q->second);
      order_.erase(key_of(e->first, e->second));
      entries_.erase(e);
      queued_broadcast_.erase(q);
    }
  }
  if (entries_.size() >= options_.queue_max) {
    // Full: the message sent most often (oldest among equals) goes.
    const uint64_t victim = std::get<2>(*order_.rbegin());
    auto e = entries_.find(victim);
    if (e->second.message.kind == AppKind::kBroadcast) {
      queued_broadcast_.erase(std::pair(e->second.message.origin, e->second.message.name));
    }
    order_.erase(std::prev(order_.end()));
    entries_.erase(e);
    ++stats_.app_queue_dropped;
  }
  const uint64_t id = next_entry_++;
  if (a.kind == AppKind::kBroadcast) queued_broadcast_[std::pair(a.origin, a.name)] = id;
  Entry entry{std::move(a), 0, 0, id};
  entry.bytes = encoded_app_size(entry.message);
  auto [it, inserted] = entries_.emplace(id, std::move(entry));
  order_.insert(key_of(id, it->second));
}

size_t AppGossip::fill(std::vector<AppMessage>& out, size_t budget, int limit) {
  size_t used = 0;
  std::vector<uint64_t> sent;
  const size_t had = out.size();  // from an earlier fill of the same datagram
  for (const Key& k : order_) {
    if (budget - used < 8) break;  // no message is that small: stop looking
    const Entry& e = entries_.find(std::get<2>(k))->second;
    if (e.bytes > budget - used) continue;
    if (std::find(out.begin(), out.begin() + static_cast<ptrdiff_t>(had), e.message) !=
        out.begin() + static_cast<ptrdiff_t>(had)) {
      continue;
    }
    used += e.bytes;
    out.push_back(e.message);
    sent.push_back(std::get<2>(k));
  }
  for (uint64_t id : sent) {
    auto it = entries_.find(id);
    Entry& e = it->second;
    order_.erase(key_of(id, e));
    if (++e.sends < limit) {
      order_.insert(key_of(id, e));
      continue;
    }
    if (e.message.kind == AppKind::kBroadcast) {
      queued_broadcast_.erase(std::pair(e.message.origin, e.message.name));
    }
    entries_.erase(it);
  }
  stats_.app_bytes_sent += used;
  return used;
}

// ------------------------------------------------------------ receiving

bool AppGossip::note_broadcast(const AppMessage& a) {
  auto key = std::pair(a.origin, a.name);
  auto it = versions_.find(key);
  if (it != versions_.end()) {
    Version& v = it->second;
    if (std::pair(a.epoch, a.seq) <= std::pair(v.epoch, v.seq)) return false;
    v = Version{a.epoch, a.seq, ++version_uses_};
    return true;
  }
  if (versions_.size() >= options_.seen_max) {
    auto oldest = std::min_element(versions_.begin(), versions_.end(),
                                   [](auto& x, auto& y) { return x.second.used < y.second.used; });
    versions_.erase(oldest);
  }
  versions_.emplace(std::move(key), Version{a.epoch, a.seq, ++version_uses_});
  return true;
}

AppGossip::Fresh AppGossip::note_time(Lamport& l, const AppMessage& a) {
  // Witness the time (serf's LamportClock.Witness).
  if (a.seq >= l.clock) l.clock = a.seq + 1;
  const uint64_t n = l.slots.size();
  if (l.clock > n && a.seq < l.clock - n) return Fresh::kTooOld;
  Slot& slot = l.slots[a.seq % n];
  if (slot.time != a.seq) slot = Slot{a.seq, {}};
  auto id = std::tuple(a.origin, a.name, a.payload, a.id);
  if (std::find(slot.seen.begin(), slot.seen.end(), id) != slot.seen.end()) return Fresh::kSeen;
  if (slot.seen.size() >= options_.per_time_max) return Fresh::kFull;
  slot.seen.push_back(std::move(id));
  return Fresh::kNew;
}

void AppGossip::count_fresh(Fresh f) {
  if (f == Fresh::kSeen) ++stats_.app_duplicates;
  if (f == Fresh::kTooOld) ++stats_.app_too_old;
  if (f == Fresh::kFull) ++stats_.app_dropped;
}

void AppGossip::receive(const AppMessage& a, const Labels& self_labels, Instant now) {
  if (a.origin == self_) {
    ++stats_.app_duplicates;  // our own, back again
    return;
  }
  switch (a.kind) {
    case AppKind::kBroadcast:
      if (!note_broadcast(a)) {
        ++stats_.app_duplicates;
        return;
      }
      enqueue(a);
      ++stats_.app_delivered;
      outputs_.push_back(AppOutput{AppOutput::What::kDelivery, a});
      return;
    case AppKind::kEvent:
      if (Fresh f = note_time(events_, a); f != Fresh::kNew) return count_fresh(f);
      enqueue(a);
      deliver_event(a, now);
      return;
    case AppKind::kQuery:
      if (Fresh f = note_time(queries_, a); f != Fresh::kNew) return count_fresh(f);
      enqueue(a);
      deliver_query(a, self_labels, now);
      return;
  }
}

void AppGossip::deliver_event(AppMessage a, Instant now) {
  if (!a.coalesce) {
    ++stats_.app_delivered;
    outputs_.push_back(AppOutput{AppOutput::What::kDelivery, std::move(a)});
    return;
  }
  auto it = held_.find(a.name);
  if (it == held_.end()) {
    std::string name = a.name;
    held_.emplace(std::move(name), Held{std::move(a), now, now});
    return;
  }
  ++stats_.app_events_coalesced;
  it->second.last = now;
  if (a.seq > it->second.message.seq) it->second.message = std::move(a);
}

bool AppGossip::matches(const AppMessage& q, const Labels& self_labels) const {
  if (!q.filter_names.empty() &&
      std::find(q.filter_names.begin(), q.filter_names.end(), self_) == q.filter_names.end()) {
    return false;
  }
  for (const auto& [k, v] : q.filter_labels) {
    auto it = self_labels.find(k);
    if (it == self_labels.end() || it->second != v) return false;
  }
  return true;
}

void AppGossip::deliver_query(const AppMessage& q, const Labels& self_labels, Instant now) {
  if (!matches(q, self_labels)) return;
  if (q.want_ack) {
    QueryAnswer ack{q.id, self_, true, {}};
    if (q.reply_to == address_ && q.origin == self_) {
      on_answer(ack);
    } else {
      acks_.emplace_back(q.reply_to, std::move(ack));
    }
  }
  if (to_answer_.size() >= options_.to_answer_max) {
    auto first = std::min_element(to_answer_.begin(), to_answer_.end(), [](auto& x, auto& y) {
      return x.second.deadline < y.second.deadline;
    });
    to_answer_.erase(first);
    ++stats_.app_dropped;
  }
  to_answer_[q.id] = ToAnswer{q.reply_to, now + std::chrono::milliseconds(q.timeout_ms)};
  ++stats_.app_delivered;
  outputs_.push_back(AppOutput{AppOutput::What::kDelivery, q});
}

void AppGossip::on_answer(const QueryAnswer& a) {
  auto it = open_.find(a.id);
  if (it == open_.end()) {
    ++stats_.app_answers_late;
    return;
  }
  auto& who = a.ack ? it->second.acked : it->second.responded;
  if (!who.insert(a.source).second) {
    ++stats_.app_duplicates;
    return;
  }
  ++stats_.app_answers_received;
  AppOutput out{AppOutput::What::kAnswer};
  out.id = a.id;
  out.from = a.source;
  out.ack = a.ack;
  out.payload = a.payload;
  outputs_.push_back(std::move(out));
}

// ----------------------------------------------------------------- time

Instant AppGossip::next_deadline() const {
  Instant t = kNever;
  for (const auto& [name, h] : held_) {
    t = std::min({t, h.first + options_.coalesce_period, h.last + options_.quiescent_period});
  }
  for (const auto& [id, o] : open_) t = std::min(t, o.deadline);
  for (const auto& [id, q] : to_answer_) t = std::min(t, q.deadline);
  return t;
}

void AppGossip::tick(Instant now) {
  for (auto it = held_.begin(); it != held_.end();) {
    const Held& h = it->second;
    if (now < h.first + options_.coalesce_period && now < h.last + options_.quiescent_period) {
      ++it;
      continue;
    }
    ++stats_.app_delivered;
    outputs_.push_back(AppOutput{AppOutput::What::kDelivery, std::move(it->second.message)});
    it = held_.erase(it);
  }
  for (auto it = open_.begin(); it != open_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    AppOutput out{AppOutput::What::kQueryEnd};
    out.id = it->first;
    outputs_.push_back(std::move(out));
    it = open_.erase(it);
  }
  std::erase_if(to_answer_, [now](const auto& q) { return now >= q.second.deadline; });
}

}  // namespace shoal::membership
