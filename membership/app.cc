// Copyright shoal authors. Membership's side of app gossip (the mechanism
// is app_gossip.h): the app's calls, the app messages each datagram
// carries, query answers and acks as datagrams.

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "shoal/membership/membership.h"

namespace shoal::membership {

std::string Membership::broadcast(std::string name, std::string payload) {
  if (displaced_) return "this node is displaced: its name is held by " + displaced_by_;
  return app_.broadcast(std::move(name), std::move(payload));
}

std::string Membership::event(std::string name, std::string payload, bool coalesce, Instant now) {
  if (displaced_) return "this node is displaced: its name is held by " + displaced_by_;
  return app_.event(std::move(name), std::move(payload), coalesce, now);
}

Duration Membership::default_query_timeout() const {
  const int log10n = std::max(
      1, static_cast<int>(std::ceil(std::log10(static_cast<double>(pingable_count_) + 1))));
  return config_.protocol_period * 16 * log10n;
}

std::string Membership::query(QuerySpec spec, Instant now, uint64_t& id) {
  if (displaced_) return "this node is displaced: its name is held by " + displaced_by_;
  if (spec.timeout <= Duration::zero()) spec.timeout = default_query_timeout();
  id = rng_.next() | 1;  // never 0
  std::string why = app_.query(spec, config_.labels, id, now);
  send_app_acks();
  return why;
}

std::string Membership::answer_query(uint64_t id, std::string payload, Instant now) {
  (void)now;
  std::string to;
  QueryAnswer answer;
  std::string why = app_.answer(id, std::move(payload), config_.datagram_budget,
                                config_.cluster.size(), to, answer);
  if (!why.empty()) return why;
  if (to == config_.address) {
    app_.on_answer(answer);  // our own query
  } else {
    ++stats_.messages_out;
    datagrams_.push_back(OutDatagram{std::move(to), Message(std::move(answer))});
  }
  return {};
}

void Membership::receive_app(const Message& msg, Instant now) {
  const std::vector<AppMessage>& app = app_of(msg);
  if (app.empty()) return;
  for (const AppMessage& a : app) app_.receive(a, config_.labels, now);
  send_app_acks();
}

void Membership::send_app_acks() {
  for (auto& [to, ack] : app_.take_acks()) {
    ++stats_.messages_out;
    stats_.app_bytes_sent += encoded_envelope_size(Message(ack), config_.cluster.size());
    datagrams_.push_back(OutDatagram{std::move(to), Message(std::move(ack))});
  }
}

void Membership::handle(const QueryAnswer& m, const std::string& reply_to, Instant now) {
  (void)reply_to;
  (void)now;
  app_.on_answer(m);
}

}  // namespace shoal::membership
