// Copyright shoal authors. What an app spreads through the cluster and
// asks of it: memberlist's user broadcasts, serf's user events and
// queries (Node::broadcast, Node::event, Node::query; the mechanism is
// membership/app_gossip.h, the wire docs/PROTOCOL.md "App gossip").
//
//   broadcast  the newest payload per (sender, name) reaches every other
//              member once; a newer one replaces an older still spreading
//   event      reaches every member once, the sender too, Lamport-timed;
//              `coalesce`: of a burst with one name only the newest is
//              delivered (after 500 ms of quiet, at most 2 s after the first)
//   query      reaches every member that matches the filter (names,
//              labels), which acks if asked and answers through its query
//              handler for the name, once; the asker collects acks and
//              responses until the timeout. Built-in handlers: `ping`
//              ("pong") and `version` (this build's version).
//
// Sizes: a name is 1-128 bytes of letters, digits and ". _ - : /"; the
// whole message must fit one datagram with the membership news
// (about 1,200 bytes of payload with the default 1,400-byte budget), and
// a larger one is refused with kInvalidArgument saying by how much.

#ifndef SHOAL_NODE_APP_H_
#define SHOAL_NODE_APP_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "shoal/membership/messages.h"
#include "shoal/node/error.h"

namespace shoal::node {

// A delivered broadcast, event or query: kind, origin (the sender's
// name), name, payload; for an event its Lamport time (`seq`).
using AppMessage = membership::AppMessage;
using AppKind = membership::AppKind;

struct QueryOptions {
  std::vector<std::string> names;  // only these members answer (empty: all)
  membership::Labels labels;       // only members with every one of these labels
  bool want_ack = false;           // members ack on receipt, before answering
  // 0: serf's default, 16 protocol periods x ceil(log10(N + 1)).
  std::chrono::milliseconds timeout{0};
};

struct QueryResponse {
  std::string member;
  std::string payload;
};

// A query's outcome once its timeout ended it: who acked and who answered,
// each member at most once, in the order they came.
struct QueryResult {
  Error error;  // not ok: the query was refused (nothing was sent)
  std::vector<std::string> acks;
  std::vector<QueryResponse> responses;
};

// A query handler: the answer to `query`, or nullopt for none. Runs on the
// io thread: keep it short.
using QueryHandler = std::function<std::optional<std::string>(const AppMessage& query)>;

}  // namespace shoal::node

#endif  // SHOAL_NODE_APP_H_
