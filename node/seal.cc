// Copyright shoal authors. See seal.h.

#include "shoal/node/seal.h"

#include <sodium.h>

#include <cstring>

#include "shoal/membership/assert.h"

namespace shoal::node {

namespace {
constexpr size_t kHeadBytes = 1 + 4;  // marker, key id: in the clear
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(kHeadBytes + kNonceBytes + kTagBytes == kSealOverhead);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kKeyBytes);

KeyId read_id(const unsigned char* p) {
  return static_cast<KeyId>(p[0]) << 24 | static_cast<KeyId>(p[1]) << 16 |
         static_cast<KeyId>(p[2]) << 8 | p[3];
}
}  // namespace

Seal::Seal(std::string cluster, Encryption mode, Keyring keyring)
    : cluster_(std::move(cluster)), mode_(mode), keyring_(std::move(keyring)) {
  SHOAL_ASSERT(mode_ == Encryption::kOff || !keyring_.empty());
  ensure_sodium();
}

bool Seal::seals_to(std::string_view peer) const {
  switch (mode_) {
    case Encryption::kOff:
      return false;
    case Encryption::kRequired:
      return true;
    case Encryption::kAcceptPlaintext:
      return sealing_peers_.contains(peer);
  }
  return true;
}

void Seal::heard(std::string_view peer, bool sealed, bool opens_sealed) {
  if (mode_ != Encryption::kAcceptPlaintext) return;
  if (!sealed && !opens_sealed) {
    if (auto it = sealing_peers_.find(peer); it != sealing_peers_.end()) sealing_peers_.erase(it);
    return;
  }
  if (sealing_peers_.contains(peer)) return;
  if (sealing_peers_.size() >= kSealingPeersMax) sealing_peers_.clear();
  sealing_peers_.emplace(peer);
}

void Seal::ad(Channel channel, const unsigned char* head) {
  ad_.assign(reinterpret_cast<const char*>(head), kHeadBytes);
  ad_.push_back(static_cast<char>(channel));
  ad_.push_back(static_cast<char>(membership::kProtocolVersion));
  ad_.append(cluster_);
}

void Seal::nonce(unsigned char* out) {
  // Random bytes drawn 4 KiB at a time: one system call per 170 nonces
  // instead of one per message.
  if (random_used_ + kNonceBytes > random_.size()) {
    randombytes_buf(random_.data(), random_.size());
    random_used_ = 0;
  }
  std::memcpy(out, random_.data() + random_used_, kNonceBytes);
  sodium_memzero(random_.data() + random_used_, kNonceBytes);
  random_used_ += kNonceBytes;
}

void Seal::seal(Channel channel, std::string_view plain, std::string& out, SealWith with) {
  SHOAL_ASSERT(mode_ != Encryption::kOff);
  const Key* key = with ? keyring_.find(*with) : nullptr;
  if (key == nullptr) key = &keyring_.primary();
  const KeyId id = key == &keyring_.primary() ? keyring_.primary_id() : *with;
  const size_t at = out.size();
  out.resize(at + kSealOverhead + plain.size());
  auto* p = reinterpret_cast<unsigned char*>(out.data() + at);
  p[0] = kSealedMarker;
  p[1] = static_cast<unsigned char>(id >> 24);
  p[2] = static_cast<unsigned char>(id >> 16);
  p[3] = static_cast<unsigned char>(id >> 8);
  p[4] = static_cast<unsigned char>(id);
  nonce(p + kHeadBytes);
  ad(channel, p);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      p + kHeadBytes + kNonceBytes, &written, reinterpret_cast<const unsigned char*>(plain.data()),
      plain.size(), reinterpret_cast<const unsigned char*>(ad_.data()), ad_.size(), nullptr,
      p + kHeadBytes, key->data());
  SHOAL_ASSERT(written == plain.size() + kTagBytes);
}

Seal::Opened Seal::open(Channel channel, std::string_view bytes) {
  Opened r;
  if (bytes.empty() || static_cast<unsigned char>(bytes[0]) != kSealedMarker) {
    if (mode_ == Encryption::kRequired) {
      r.error = proto::DecodeError::kPlaintextRefused;
      r.detail = "not sealed, and this node requires the cluster key";
      return r;
    }
    r.plain = bytes;
    return r;
  }
  r.error = proto::DecodeError::kDecryptFailed;
  if (mode_ == Encryption::kOff) {
    r.detail = kNoKeyringDetail;
    return r;
  }
  if (bytes.size() < kSealOverhead) {
    r.detail = "sealed message of " + std::to_string(bytes.size()) + " bytes, under the " +
               std::to_string(kSealOverhead) + "-byte seal";
    return r;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const KeyId id = read_id(p + 1);
  const Key* key = keyring_.find(id);
  if (key == nullptr) {
    r.detail = "sealed with key " + key_id_hex(id) + ", which this node does not have";
    return r;
  }
  ad(channel, p);
  const size_t cipher = bytes.size() - kHeadBytes - kNonceBytes;
  plain_.resize(cipher - kTagBytes);
  unsigned long long opened = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain_.data()), &opened, nullptr,
          p + kHeadBytes + kNonceBytes, cipher, reinterpret_cast<const unsigned char*>(ad_.data()),
          ad_.size(), p + kHeadBytes, key->data()) != 0) {
    r.detail = "did not open with key " + key_id_hex(id) +
               " (altered, or sealed for another cluster or protocol version)";
    return r;
  }
  r.error = proto::DecodeError::kOk;
  r.plain = std::string_view(plain_.data(), opened);
  r.sealed = true;
  r.key_id = id;
  return r;
}

std::string Seal::datagram(std::string_view to, const membership::Message& message) {
  // Plaintext from a node with a keyring says it opens sealed datagrams
  // (2 bytes, within the seal's 45 the core leaves free); sealed ones
  // need not.
  const bool sealed = seals_to(to);
  std::string plain =
      proto::encode_datagram(cluster_, message, !sealed && mode_ != Encryption::kOff);
  if (!sealed) return plain;
  std::string out;
  out.reserve(plain.size() + kSealOverhead);
  seal(Channel::kDatagram, plain, out);
  return out;
}

void Seal::append_frame(std::string& out, uint64_t id, const proto::FrameBody& body,
                        SealWith with) {
  if (!with || mode_ == Encryption::kOff) {
    proto::append_frame(out, cluster_, id, body);
    return;
  }
  scratch_.clear();
  proto::append_frame(scratch_, cluster_, id, body);  // a record of one frame
  proto::append_frame_header(out, static_cast<uint32_t>(scratch_.size() + kSealOverhead));
  seal(Channel::kFrame, scratch_, out, with);
}

}  // namespace shoal::node
