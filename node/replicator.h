// Copyright shoal authors. The replicator's state machine (contract in
// replication.h): fans one call out over a key's owners through a send
// function and decides on the quorum. No I/O and no clock: the forwarder
// hands it directed requests and their results, so the node runs it on its
// io thread and the simulator in virtual time.

#ifndef SHOAL_NODE_REPLICATOR_H_
#define SHOAL_NODE_REPLICATOR_H_

#include <functional>
#include <string>
#include <vector>

#include "shoal/node/replication.h"

namespace shoal::node {

// Sends the call to `member`, owner number `replica`; `done` gets its one
// result (possibly before send returns).
using ReplicaSend = std::function<void(const std::string& member, int replica,
                                       std::function<void(ForwardResult)> done)>;

// "" if `options` suit a ring of `members` members, else what is wrong.
std::string check_replica_options(const ReplicaOptions& options, size_t members);

// Fans out over `owners` (the key's first n, in ring order; options
// checked) and calls `done` once, with every owner's answer.
void replicate_over(std::vector<std::string> owners, const ReplicaOptions& options,
                    ReplicaSend send, std::function<void(ReplicaResult)> done);

}  // namespace shoal::node

#endif  // SHOAL_NODE_REPLICATOR_H_
