// Copyright shoal authors. The replicator's options and result
// (Node::replicate; ringpop-go's `replica` package is the model): a
// request for a key goes to the key's first N owners in this node's ring
// (ring::Ring::lookup_n), each as a directed request (Node::request), and
// the call completes once `quorum` of them answered ok (W for a write, R
// for a read) or once so many failed that the quorum cannot be reached.
// The handler sees which owner it is (Request::replica, 0: the ring's
// owner). The result holds every owner's answer or error, or why it has
// none: still in flight when the quorum was decided (its later answer is
// dropped), or never asked (serial fan-out stops at the quorum).
//
//   replicate(key) -> lookup_n(key, n) -> parallel: all n at once
//                                        serial:   one after another, in
//                                                  ring order, until decided
//                 each answer -> ok >= quorum            -> ok
//                                failed > n - quorum     -> error
//
// Bad options end at once in bad_request, naming what is wrong: n of 0 or
// above kReplicasMax, n above the ring's members, a quorum of 0 or above n.

#ifndef SHOAL_NODE_REPLICATION_H_
#define SHOAL_NODE_REPLICATION_H_

#include <cstddef>
#include <string>
#include <vector>

#include "shoal/node/forwarding.h"

namespace shoal::node {

inline constexpr size_t kReplicasMax = 64;

enum class FanOut : uint8_t {
  kParallel,  // every owner at once
  kSerial,    // one after another, in ring order, until the quorum is decided
};

struct ReplicaOptions {
  size_t n = 3;       // the key's first n owners
  size_t quorum = 2;  // answers ok needed: W for a write, R for a read
  FanOut fan_out = FanOut::kParallel;
  // Complete only once every owner asked has answered (or failed), not as
  // soon as the quorum is decided.
  bool wait_all = false;
  // Each owner's request: endpoint, time budget, retries, headers.
  ForwardOptions request{};
};

struct ReplicaAnswer {
  enum class State : uint8_t {
    kAnswered,  // `result` holds its answer or error
    kPending,   // asked; the call completed before it answered
    kNotAsked,  // serial fan-out: the quorum was decided first
  };
  std::string member;
  int replica = 0;  // which owner (0: the first)
  State state = State::kNotAsked;
  ForwardResult result{};
};

struct ReplicaResult {
  // kOk once `quorum` owners answered ok; else bad_request for bad options,
  // or the error of the first owner that failed.
  ForwardError error = ForwardError::kOk;
  std::string message;  // why, for errors: each failed owner and its error
  size_t ok_count = 0;
  std::vector<ReplicaAnswer> answers;  // one per owner, in ring order
  bool ok() const { return error == ForwardError::kOk; }
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_REPLICATION_H_
