// Copyright shoal authors. The cursor the admin commands `events` and
// `app-events` share (admin.h): a numbered log the node keeps the tail of,
// read by a watcher (`shoal watch`) from where it left off.
//
// args {since?: N, epoch?: E}: the entries after number N (at most
// Admin::kEventsPerAnswer) that the node still holds, and the number to ask
// from next time; `missed` counts the ones after N it no longer holds.
// Without `since`: none, and the number to start from (what a watcher asks
// first). `epoch` names this run of the node (its start incarnation): a
// watcher sends back the one it was given, and a different one (or a
// cursor past the last entry) means the node restarted since: the answer
// starts over from this run's first entry and says so (`restarted`).

#ifndef SHOAL_NODE_ADMIN_LOG_H_
#define SHOAL_NODE_ADMIN_LOG_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "shoal/proto/codec.h"

namespace shoal::node {

struct AdminLog {
  uint64_t last = 0;                               // the newest entry's number (0: none ever)
  uint64_t epoch = 0;                              // this run of the node
  size_t size = 0;                                 // entries held, oldest first
  std::function<uint64_t(size_t i)> seq;           // entry i's number
  std::function<nlohmann::json(size_t i)> render;  // entry i, with its "seq"
};

// The answer to `command` (for its error messages) with `args`.
proto::AdminResponse log_answer(const std::string& command, const nlohmann::json& args,
                                const AdminLog& log, size_t per_answer);

}  // namespace shoal::node

#endif  // SHOAL_NODE_ADMIN_LOG_H_
