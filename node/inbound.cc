// Copyright shoal authors. What arrives on TCP: frames on the connections
// this node accepted (TcpServer::Delegate) and answers on its forwarding
// links (PeerLinks::Delegate). Each frame is opened and decoded by the
// engine, then routed:
//
//   frame --decode--> AdminRequest ---authorized? (admin_refusal)--> Admin
//            |        ForwardRequest -----------------------------> Engine.on_forward_request
//            |        Join/Sync/Ping --full-state slot?-----------> Engine.on_request
//            `-- failed: counted, logged (rate-limited), connection closed; a
//                CLI without the key is told why first

#include "shoal/node/node_impl.h"

namespace shoal::node {

using membership::Instant;

bool Node::Impl::on_frame(const std::string& peer, std::string_view bytes, SealWith opened,
                          const std::shared_ptr<Responder>& responder) {
  auto decoded = engine->decode_frame(bytes, opened);
  if (!decoded.ok()) {
    log_drop(decoded.error, decoded.detail, peer);
    return answer_unopened(decoded, bytes, responder);
  }
  const uint64_t id = decoded.value->id;
  const SealWith sealed = decoded.sealed ? SealWith(decoded.key_id) : std::nullopt;
  if (auto* a = std::get_if<proto::AdminRequest>(&decoded.value->body)) {
    return on_admin(peer, *a, id, bytes.size(), sealed, responder);
  }
  if (auto* f = std::get_if<proto::ForwardRequest>(&decoded.value->body)) {
    // Answered now, or once the handler has run (the responder keeps the
    // connection's queue; a closed connection drops the answer).
    const Instant received(responder->received_at().time_since_epoch());
    engine->on_forward_request(std::move(*f), received, mono_now(),
                               [responder, id, sealed](const proto::ForwardResponse& r) {
                                 responder->reply(id, r, sealed);
                               });
    pump();
    return true;
  }
  return on_membership_request(peer, decoded, sealed, responder);
}

bool Node::Impl::on_admin(const std::string& peer, const proto::AdminRequest& request, uint64_t id,
                          size_t bytes, SealWith sealed,
                          const std::shared_ptr<Responder>& responder) {
  if (std::string why = admin_refusal(peer, sealed.has_value(), seal->mode()); !why.empty()) {
    ++counters.admin_refused;
    if (log.due("admin_refused")) {
      log.warn("{}; {} admin requests refused so far", why, counters.admin_refused);
    }
    return refuse(responder, id, why, sealed);
  }
  // Admin arguments are small JSON: a big one is refused before it is
  // parsed on the io thread.
  if (bytes > kAdminFrameMax) {
    responder->reply(id,
                     proto::AdminResponse{"", "admin request of " + std::to_string(bytes) +
                                                  " bytes, over the 65536-byte limit"},
                     sealed);
    return true;
  }
  admin->handle(request, [responder, id, sealed](proto::AdminResponse r) {
    responder->reply(id, r, sealed);
  });
  pump();
  return true;
}

// A join, sync or (TCP fallback) ping: the membership core answers.
bool Node::Impl::on_membership_request(const std::string& peer,
                                       proto::Decoded<proto::Frame>& decoded, SealWith sealed,
                                       const std::shared_ptr<Responder>& responder) {
  // A join or sync answer holds the whole table: a bounded number wait
  // in send queues at once; past that the asker's exchange fails and it
  // tries again later (as for an unreachable peer).
  std::shared_ptr<void> slot;
  if (std::holds_alternative<membership::JoinRequest>(decoded.value->body) ||
      std::holds_alternative<membership::SyncRequest>(decoded.value->body)) {
    slot = full_state_answers.take();
    if (!slot) return refuse_full_state(peer, responder);
  }
  // A join or sync says who asks: what it speaks counts for that member
  // (a node whose UDP is cut from the start learns its peers this way).
  std::visit(
      [&](const auto& b) {
        using B = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<B, membership::JoinRequest> ||
                      std::is_same_v<B, membership::SyncRequest> ||
                      std::is_same_v<B, membership::Ping>) {
          engine->note_minor(b.source, decoded.minor);
        }
      },
      decoded.value->body);
  if (decoded.compressed) ++counters.tables_compressed_in;
  auto reply = engine->on_request(peer, decoded.value->body, mono_now());
  pump();
  if (!reply) return false;  // a response type sent as a request
  responder->reply(decoded.value->id, *reply, sealed,
                   decoded.minor >= membership::kMinorCompression);
  if (slot) responder->hold_until_sent(std::move(slot));
  return true;
}

bool Node::Impl::refuse_full_state(const std::string& peer,
                                   const std::shared_ptr<Responder>& responder) {
  ++counters.full_syncs_refused;
  if (log.due("full_syncs_refused")) {
    log.warn(
        "join/sync from {} refused: {} full-state answers are waiting to be sent; {} "
        "refused so far",
        peer, full_state_answers.in_use(), counters.full_syncs_refused);
  }
  responder->close_after_replies();
  return true;
}

// A refusal the peer can read (in the form it asked), then the end.
bool Node::Impl::refuse(const std::shared_ptr<Responder>& responder, uint64_t id,
                        const std::string& why, SealWith sealed) {
  responder->reply(id, proto::AdminResponse{"", why}, sealed);
  responder->close_after_replies();
  return true;
}

// A frame that did not decode closes the connection. A CLI without the
// key is told why first: a plaintext admin request to a node that
// requires sealing gets a plaintext AdminResponse saying so.
bool Node::Impl::answer_unopened(const proto::Decoded<proto::Frame>& decoded,
                                 std::string_view bytes,
                                 const std::shared_ptr<Responder>& responder) {
  if (decoded.error == proto::DecodeError::kPlaintextRefused) {
    auto plain = proto::decode_frame(bytes, opts.cluster, kAdminFrameMax);
    if (plain.ok() && std::holds_alternative<proto::AdminRequest>(plain.value->body)) {
      ++counters.admin_refused;
      return refuse(responder, plain.value->id,
                    "admin needs the cluster key: this node takes only sealed messages "
                    "(shoal --keyring-file)",
                    std::nullopt);
    }
  }
  return false;
}

// A sealed record that did not open: counted, and a CLI is told why
// (the answer holds nothing a peer could not know: a key is needed).
bool Node::Impl::on_unopened(const std::string& peer, const Seal::Opened& why,
                             const std::shared_ptr<Responder>& responder) {
  engine->count_drop(why.error);
  log_drop(why.error, why.detail, peer);
  if (why.error != proto::DecodeError::kDecryptFailed) return false;
  return refuse(responder, 0, "the request did not open: " + why.detail, std::nullopt);
}

void Node::Impl::on_oversized(const std::string& peer, uint32_t length) {
  engine->count_drop(proto::DecodeError::kTooLarge);
  log_drop(proto::DecodeError::kTooLarge, "frame of " + std::to_string(length) + " bytes", peer);
}

void Node::Impl::on_too_big(const std::string& peer, size_t bytes) {
  log.error(
      "an answer of {} bytes to {} is over frame_bytes_max ({}): not sent, connection "
      "closed (a membership table that large needs a higher --frame-bytes-max)",
      bytes, peer, opts.frame_bytes_max);
}

// Saves a changed keyring to the node's file (admin keys.*), if it has one.
std::string Node::Impl::save_keyring(const Keyring& ring) const {
  if (opts.keyring_file.empty()) return "";
  std::string why = save_keyring_file(opts.keyring_file, ring);
  if (why.empty()) log.info("keyring saved to {} ({} keys)", opts.keyring_file, ring.size());
  return why;
}

// ---- PeerLinks::Delegate ----
bool Node::Impl::on_answer(const std::string& peer, std::string_view bytes, SealWith opened) {
  auto decoded = engine->decode_frame(bytes, opened);
  if (!decoded.ok()) return false;
  auto* resp = std::get_if<proto::ForwardResponse>(&decoded.value->body);
  if (resp == nullptr) return false;
  engine->on_forward_response(peer, decoded.value->id, std::move(*resp), mono_now());
  pump();
  return true;
}

void Node::Impl::on_failed(const std::string& peer, const std::string& why) {
  log.debug("forwarding connection to {} failed: {}", peer, why);
  engine->on_link_failed(peer, why, mono_now());
  pump();
}

}  // namespace shoal::node
