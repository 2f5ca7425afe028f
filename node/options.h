// Copyright shoal authors. NodeOptions: everything a node is told before
// it starts (node.h), each option with its default and why. validate()
// checks them all before anything is bound, and names the option at fault.

#ifndef SHOAL_NODE_OPTIONS_H_
#define SHOAL_NODE_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shoal/membership/config.h"
#include "shoal/membership/types.h"
#include "shoal/node/error.h"
#include "shoal/node/keyring.h"
#include "shoal/ring/ring.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace shoal::node {

struct NodeOptions {
  // Address to bind, UDP and TCP on the same port ("host:port"; port 0
  // picks a free one, see Node::address()).
  std::string listen = "127.0.0.1:7000";
  // Address other members use to reach this node, if not `listen` (NAT,
  // containers, or listen on 0.0.0.0).
  std::string advertise;
  // This member's name: its identity in the cluster and on the ring
  // (letters, digits, '.', '_', '-'; at most 64 bytes). "" means its
  // advertised address. A member restarted under the same name on a new
  // address keeps its keys (docs/PROTOCOL.md "Names").
  std::string name;
  // Members from other clusters are dropped on receipt.
  std::string cluster = "shoal";
  std::vector<std::string> seeds;
  // Labels gossiped with this member.
  membership::Labels labels;
  // The protocol's parameters (membership/config.h: each with its formula
  // and trade-off). Who this node is (name, cluster, labels above; its
  // address and incarnation) the node adds itself.
  membership::Tuning protocol;
  uint32_t replica_points = ring::kDefaultReplicaPoints;
  // TCP frames above this are refused before allocation.
  uint32_t frame_bytes_max = 16u << 20;
  // A TCP connection that sends nothing for this long is closed.
  std::chrono::milliseconds tcp_idle_timeout{10000};
  // A frame that started must arrive completely within this; a forwarding
  // connection with requests outstanding that reads nothing for this long
  // has failed.
  std::chrono::milliseconds tcp_read_timeout{5000};
  // Accepted TCP connections open at once; more are closed at once.
  uint32_t tcp_connections_max = 1024;
  // Join and sync answers (the whole member table each) waiting to be sent
  // at once; past that, join and sync requests are refused (the asker
  // retries later). memberlist's bound on pending push/pulls is 128.
  uint32_t full_syncs_max = 64;
  // HTTP at http://<metrics_listen>: /metrics (Prometheus text), /health
  // and /ready (node/metrics_http.h); empty: off. A loopback address unless
  // metrics_public: the counters are for the network only when the
  // operator says so (read-only either way).
  std::string metrics_listen;
  bool metrics_public = false;

  // ---- request forwarding ----
  // Threads that run the request handler; 0: the io thread runs it (only
  // for handlers that never block: a slow one delays probes and gets this
  // node suspected).
  uint32_t handler_threads = 2;
  // With handler threads: handlers first run on the io thread's own thread
  // (no hand-off: half the CPU per request under load), and a relief
  // thread takes the io loop over once one has run this long, so probes
  // and acks wait at most about twice this; for a second after that,
  // handlers go to the handler threads (node/io_relief.h). 0: always the
  // handler threads.
  std::chrono::microseconds io_relief_after{1000};
  // Requests waiting for a handler thread; more are answered overloaded.
  uint32_t handler_queue_max = 16384;
  // Requests in flight to one peer before new ones fail with kOverloaded.
  uint32_t forward_inflight_max = 4096;
  // Consecutive failures to one peer that open its circuit, and how long it
  // stays open before one trial request (half-open).
  uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open{1000};

  // Bound on a graceful leave (leave() without an argument, SIGTERM in
  // shoald, the admin `leave` command): gossip `leave`, wait until it has
  // spread or this long, then stop.
  std::chrono::milliseconds leave_timeout{2000};
  // Before that, a leave drains (Node::leave): at most this long.
  std::chrono::milliseconds drain_timeout{5000};

  // ---- the trust boundary (docs/SECURITY.md) ----
  // kOff: plaintext, admin from loopback peers only. Otherwise datagrams
  // and frames are sealed with `keyring` (non-empty; in
  // kAcceptPlaintext, to the peers that open sealed messages), admin
  // requests must be sealed, and kRequired drops plaintext (node/seal.h
  // has the modes).
  Encryption encryption = Encryption::kOff;
  Keyring keyring;
  // Where admin `keys install|use|remove` save the ring (atomically);
  // empty: key changes last until the process ends.
  std::string keyring_file;

  // Admission (memberlist's AliveDelegate): asked on the io thread about
  // every member before this node adds it (name, address, labels); a
  // non-empty answer says why not, and the member is never added here,
  // so never probed, gossiped or put on this node's ring (counted:
  // members_vetoed). E.g. a wrong version label, a name outside a
  // pattern. Keep it fast and pure: it runs for every unknown member
  // named in any datagram. Empty: every member is admitted.
  std::function<std::string(const membership::MemberState& member)> admit;

  // The app's state in push-pull (memberlist's LocalState and
  // MergeRemoteState): app_state() gives this node's (at most 64 KiB; a
  // larger one is not sent, counted in app_state_refused), sent with every
  // join and full sync both ways, the periodic one every
  // protocol.push_pull_interval included; merge_app_state() gets a peer's.
  // `join`: the exchange is a join. Both run on the io thread: keep them
  // short. Empty: nothing is sent or merged.
  std::function<std::string(bool join)> app_state;
  std::function<void(const std::string& state, bool join)> merge_app_state;

  // memberlist's ConflictDelegate: called on the io thread when the name
  // of a member alive here (this node's own: `self`) is claimed at another
  // address by a newer claim: (name, known address, other address, self).
  // The node also logs it. Keep it short.
  std::function<void(const std::string& name, const std::string& known_address,
                     const std::string& other_address, bool self)>
      on_name_conflict;

  // Member-change log lines per second at most (a flood of forged members
  // must not flood the log); the rest are counted and reported in one
  // line. 0: no limit (benchmarks read every line).
  uint32_t member_log_per_second = 200;

  // Seed for the protocol's random choices; 0 draws one from the OS (and
  // logs it, so a run can be replayed in the simulator).
  uint64_t rng_seed = 0;

  // ---- logging ----
  // Where this node's log lines go: the app's spdlog logger (include
  // <spdlog/spdlog.h>; shoal's package brings spdlog as a dependency, so
  // the app and shoal share one spdlog). Null: a logger of the node's own
  // that writes to stderr at spdlog's default level (spdlog::set_level
  // before start()). Either way every line begins with this node's name,
  // so several nodes in one process (or one logger) tell apart.
  std::shared_ptr<spdlog::logger> logger;

  // kOk if every option is usable, else kInvalidOptions naming the first
  // that is not ("listen: missing ':port' in '10.0.0.1'").
  Error validate() const;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_OPTIONS_H_
