// Copyright shoal authors. Admin commands: what the `shoal` CLI asks a
// node over its TCP port (AdminRequest / AdminResponse frames, JSON both
// ways; docs/OPERATIONS.md lists them).
//
//   members               every known member: address, status, incarnation, labels
//   status                this node's view: incarnation, ring checksum, health
//   stats                 every counter (node/counters.h)
//   lookup {key, n?}      the key's owner and n-1 replicas in this node's ring
//   forward {key, payload?, timeout_ms?, endpoint?}
//                         handle_or_forward from this node; says who handled it
//   request {member, payload?, timeout_ms?, endpoint?}
//                         Node::request from this node to the member named
//   leave                 graceful leave (bounded by the node's leave timeout)
//   force-leave {name}    marks a suspect or faulty member left, cluster-wide
//                         (serf's force-leave); refused for an alive one
//   log-level {level?}    the node's log level; sets it first if given
//   labels {set?: {K: V}, unset?: [K]}
//                         changes this node's labels (gossiped with a new
//                         incarnation); answers them
//   broadcast, event, query, app-events
//                         app gossip (admin_app.cc says their arguments)
//   keys.list             the keyring: key ids, the primary first (never the keys)
//   keys.install {key}    add a key (base64)            } each saved to the
//   keys.use {key}        make an installed key primary } keyring file before
//   keys.remove {key}     remove a key, not the primary } it is answered
//
// Who may ask (admin_refusal): the owner. With a keyring, whoever holds a
// key of it (the request is sealed); without one, whoever is on this host
// (a loopback peer). The inbound path (inbound.cc) asks before it hands a
// request here.
// Errors are answers, never a closed connection: a bad argument or an
// unknown command gets AdminResponse.error saying what is wrong.
// Thread safety: the io thread only.

#ifndef SHOAL_NODE_ADMIN_H_
#define SHOAL_NODE_ADMIN_H_

#include <functional>
#include <nlohmann/json_fwd.hpp>

#include "shoal/node/engine.h"
#include "shoal/proto/codec.h"

namespace shoal::node {

// "" if `peer` ("ip:port") may send admin requests to a node whose seal is
// in `mode` (`sealed`: this request was sealed with a key of its ring),
// else why not, for the refusal the peer gets.
std::string admin_refusal(const std::string& peer, bool sealed, Encryption mode);

class Admin {
 public:
  struct Hooks {
    std::function<membership::Instant()> now;
    std::function<void()> leave;       // begins a graceful leave
    std::function<NodeStats()> stats;  // every counter, transports' included
    // Persists a changed keyring: "" once saved, else why not (the change
    // is then not made).
    std::function<std::string(const Keyring&)> save_keyring;
    // The node's log level by name; set_log_level: "" once set, else why not.
    std::function<std::string()> log_level;
    std::function<std::string(const std::string&)> set_log_level;
  };
  using Reply = std::function<void(proto::AdminResponse)>;

  Admin(Engine& engine, Hooks hooks) : engine_(engine), hooks_(std::move(hooks)) {}

  // Answers `request`: `reply` runs exactly once, now or (forward) when
  // the forwarded request ends.
  void handle(const proto::AdminRequest& request, Reply reply);

 private:
  proto::AdminResponse members() const;
  proto::AdminResponse status() const;
  proto::AdminResponse events(const nlohmann::json& args) const;
  proto::AdminResponse lookup(const nlohmann::json& args) const;
  // forward (to a key's owner) or request (to a member by name).
  void forward(const std::string& command, const nlohmann::json& args, Reply reply);
  proto::AdminResponse keys(const std::string& command, const nlohmann::json& args);
  proto::AdminResponse labels(const nlohmann::json& args);
  proto::AdminResponse force_leave(const nlohmann::json& args);
  proto::AdminResponse log_level(const nlohmann::json& args);
  // admin_app.cc
  proto::AdminResponse app_send(const std::string& command, const nlohmann::json& args);
  void app_query(const nlohmann::json& args, Reply reply);
  proto::AdminResponse app_events(const nlohmann::json& args) const;
  // At most this many events (member or app) in one answer.
  static constexpr size_t kEventsPerAnswer = 256;

  Engine& engine_;
  Hooks hooks_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_ADMIN_H_
