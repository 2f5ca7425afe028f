// Copyright shoal authors. The seal: authenticated encryption of every
// datagram and frame with the cluster's keyring (docs/SECURITY.md).
//
// A sealed message, a datagram or a TCP record (one or more length-prefixed
// frames sealed together; the record's 4-byte length header stays in the
// clear and counts the sealed bytes; frame_conn.h):
//
//   +------+-----------+------------------+------------------------+-------+
//   | 0x00 | key id    | nonce            | ciphertext of the      | tag   |
//   |      | 4 bytes   | 24 bytes, random | encoded Envelope/Frame | 16 B  |
//   +------+-----------+------------------+------------------------+-------+
//   <------------------- kSealOverhead = 45 bytes, with the tag ---------->
//
// XChaCha20-Poly1305-IETF (libsodium): a 24-byte nonce is safe to draw at
// random for every message. Associated data, authenticated but not sent:
// the first five bytes, the channel (datagram or frame: one cannot be
// replayed as the other), the protocol version and the cluster name. So a
// message of another cluster, or of another version, does not open; the
// key id picks the one key to try. A plaintext Envelope or Frame never
// starts with 0x00 (its first byte is a protobuf tag, never field 0), so
// a receiver tells the two apart by the first byte.
//
// Modes (`--encryption`):
//   off               no keyring; plaintext out; a sealed message is
//                     dropped (decrypt_failed).
//   accept-plaintext  both accepted, sealed out to every peer that has
//                     shown it opens sealed messages: the rollout mode.
//                     A peer shows it by a sealed datagram, or by a
//                     plaintext one with Envelope.opens_sealed set (which
//                     this mode sets). Others (nodes without a keyring
//                     yet, seeds not heard from) get plaintext, so a
//                     plaintext cluster converts by two rolling restarts
//                     and converted nodes seal to each other after their
//                     first datagram. Frames are answered in the form they
//                     came in.
//   required          sealed out; plaintext is dropped (plaintext_refused).
//
// Thread safety: none; the node's io thread owns its Seal (the CLI has its
// own).

#ifndef SHOAL_NODE_SEAL_H_
#define SHOAL_NODE_SEAL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "shoal/node/keyring.h"
#include "shoal/node/string_hash.h"
#include "shoal/proto/codec.h"

namespace shoal::node {

inline constexpr size_t kSealOverhead = 1 + 4 + 24 + 16;
// Opened::detail for a sealed message to a node without a keyring (a CLI
// with a key asking such a node tries again in plaintext).
inline constexpr std::string_view kNoKeyringDetail = "sealed, and this node has no keyring";
inline constexpr unsigned char kSealedMarker = 0x00;

// How a message goes: plaintext (nullopt) or sealed with the key of this
// id (the primary if the ring no longer has it). An answer goes in the
// form its request came in, so a client holding any key of the ring, even
// one being rotated out, can read it.
using SealWith = std::optional<KeyId>;

class Seal {
 public:
  enum class Channel : uint8_t { kDatagram = 1, kFrame = 2 };

  struct Opened {
    proto::DecodeError error = proto::DecodeError::kOk;  // kDecryptFailed, kPlaintextRefused
    std::string detail;
    // The plaintext: `bytes` itself, or the Seal's buffer (valid until the
    // next open()).
    std::string_view plain;
    bool sealed = false;
    KeyId key_id = 0;  // if sealed
    bool ok() const { return error == proto::DecodeError::kOk; }
  };

  // Precondition: mode is kOff, or `keyring` is not empty.
  Seal(std::string cluster, Encryption mode, Keyring keyring = {});

  Encryption mode() const { return mode_; }
  const std::string& cluster() const { return cluster_; }
  const Keyring& keyring() const { return keyring_; }
  // Key changes (admin `keys.*`) apply from the next message.
  Keyring& keyring() { return keyring_; }
  // Bytes sealing adds to a datagram: the core packs its datagrams this
  // much smaller, so no datagram on the wire exceeds the budget.
  size_t overhead() const { return mode_ == Encryption::kOff ? 0 : kSealOverhead; }

  // Whether what this node sends to `peer` (a member address) is sealed.
  bool seals_to(std::string_view peer) const;
  // The same as a SealWith: the primary key, or plaintext.
  SealWith seal_to(std::string_view peer) const {
    return seals_to(peer) ? SealWith(keyring_.primary_id()) : std::nullopt;
  }
  // accept-plaintext: what a datagram from `peer` showed (sealed, or
  // plaintext saying it opens sealed ones, or neither).
  void heard(std::string_view peer, bool sealed, bool opens_sealed);

  // Appends the sealed form of `plain` to `out`: fresh nonce, the key
  // `with` names if the ring has it, else the primary. Precondition: mode
  // is not kOff.
  void seal(Channel channel, std::string_view plain, std::string& out, SealWith with = {});
  Opened open(Channel channel, std::string_view bytes);

  // A datagram for `to`: encoded, and sealed if seals_to(to).
  std::string datagram(std::string_view to, const membership::Message& message);
  // Appends frame `id` as `with` says: plaintext, a length header and the
  // Frame; sealed, a record of that one frame (frame_conn.h has records).
  void append_frame(std::string& out, uint64_t id, const proto::FrameBody& body, SealWith with);

 private:
  void ad(Channel channel, const unsigned char* head);
  void nonce(unsigned char* out);

  // accept-plaintext: peers known to open sealed messages; bounded
  // (forgotten when full: learned again from their next datagram).
  static constexpr size_t kSealingPeersMax = 65536;

  std::string cluster_;
  Encryption mode_;
  Keyring keyring_;
  std::unordered_set<std::string, StringHash, std::equal_to<>> sealing_peers_;
  std::string ad_;
  std::string plain_;
  std::string scratch_;
  std::array<unsigned char, 4096> random_{};
  size_t random_used_ = 4096;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_SEAL_H_
