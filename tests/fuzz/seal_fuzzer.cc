// Fuzz target for node/seal.h and node/keyring.h: what a peer without the
// key can do with bytes, and what a keyring file may hold.
//
// With a fixed two-key keyring and cluster "prod" (the seed corpus holds
// real seals made with it: make_corpora.py), the input is used four ways.
// Checks, each a trap when broken:
//   open, the input as received bytes (both channels, both sealed modes)
//     * an ok result is sealed (or plaintext where the mode takes it), its
//       plaintext is the input less the 45-byte seal, its key is in the
//       ring, and it opens on no other channel and in no other cluster;
//     * a refusal has a detail and is kDecryptFailed or kPlaintextRefused;
//     * accept-plaintext passes unsealed bytes through untouched;
//   seal, the input as plaintext
//     * it seals to exactly 45 bytes more, with the key asked for, and
//       opens to the same plaintext with that key's id;
//     * one byte changed (position and XOR mask from the input, the mask
//       never 0), or the seal cut short, no longer opens;
//   keyring text, the input as a keyring file
//     * parse_keyring fails with a reason, or gives a non-empty ring whose
//       format_keyring text parses back to the same keys in order;
//   key text, the input as one base64 key
//     * decode_key fails with a reason, or encode_key gives back the
//       trimmed text (one key, one spelling).
// Sealing draws random nonces, so runs are not bit-for-bit repeatable;
// every check holds for any nonce.
// Built as shoal_seal_fuzzer (libFuzzer) and as shoal_seal_fuzz_replay
// (ctest fuzz.seal_replay).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shoal/node/keyring.h"
#include "shoal/node/seal.h"

namespace {

using shoal::node::Encryption;
using shoal::node::Key;
using shoal::node::Keyring;
using shoal::node::Seal;
using shoal::node::SealWith;
using Channel = Seal::Channel;
using shoal::proto::DecodeError;

constexpr char kCluster[] = "prod";

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Fixed keys (bytes 0..31 and 32..63): the corpus generator uses the same.
Key fixed_key(unsigned char first) {
  Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(first + i);
  return k;
}

Keyring fixed_ring() {
  Keyring r;
  check(r.install(fixed_key(0)).empty());
  check(r.install(fixed_key(32)).empty());
  return r;
}

struct Seals {
  Seal required{kCluster, Encryption::kRequired, fixed_ring()};
  Seal accepting{kCluster, Encryption::kAcceptPlaintext, fixed_ring()};
  Seal other_cluster{"prod2", Encryption::kRequired, fixed_ring()};
};

Seals& seals() {
  static Seals s;
  return s;
}

Channel other(Channel c) { return c == Channel::kDatagram ? Channel::kFrame : Channel::kDatagram; }

void open_as_received(Seal& seal, Channel channel, std::string_view bytes) {
  const Seal::Opened got = seal.open(channel, bytes);
  const bool sealed_form = !bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0;
  if (!got.ok()) {
    check(!got.detail.empty());
    check(got.error == DecodeError::kDecryptFailed || got.error == DecodeError::kPlaintextRefused);
    check(got.error == DecodeError::kPlaintextRefused ? !sealed_form : sealed_form);
    return;
  }
  check(got.detail.empty());
  if (!got.sealed) {
    check(seal.mode() == Encryption::kAcceptPlaintext && !sealed_form);
    check(got.plain.data() == bytes.data() && got.plain.size() == bytes.size());
    return;
  }
  check(sealed_form);
  check(got.plain.size() + shoal::node::kSealOverhead == bytes.size());
  check(seal.keyring().find(got.key_id) != nullptr);
  // Authenticated with its channel and cluster: nowhere else does it open.
  const std::string plain(got.plain);
  check(!seal.open(other(channel), bytes).ok());
  check(!seals().other_cluster.open(channel, bytes).ok());
  // And it opens again, to the same plaintext.
  const Seal::Opened again = seal.open(channel, bytes);
  check(again.ok() && again.plain == plain);
}

void seal_and_tamper(std::string_view plain, uint32_t choice) {
  Seal& seal = seals().required;
  const Channel channel = (choice & 1) ? Channel::kFrame : Channel::kDatagram;
  const SealWith with = (choice & 2) ? SealWith(shoal::node::key_id(fixed_key(32))) : SealWith();
  std::string out;
  seal.seal(channel, plain, out, with);
  check(out.size() == plain.size() + shoal::node::kSealOverhead);
  const Seal::Opened opened = seal.open(channel, out);
  check(opened.ok() && opened.sealed && opened.plain == plain);
  check(opened.key_id == (with ? *with : seal.keyring().primary_id()));

  std::string bad = out;
  const size_t pos = (choice >> 8) % bad.size();
  const auto mask = static_cast<unsigned char>((choice >> 2) & 0x3f);
  if (mask != 0) {
    bad[pos] = static_cast<char>(static_cast<unsigned char>(bad[pos]) ^ mask);
    const Seal::Opened tampered = seal.open(channel, bad);
    check(!tampered.ok());
    check(tampered.error ==
          (pos == 0 ? DecodeError::kPlaintextRefused : DecodeError::kDecryptFailed));
  }
  const size_t cut = (choice >> 16) % out.size();
  check(!seal.open(channel, std::string_view(out).substr(0, cut)).ok());
}

void keyring_text(std::string_view text) {
  std::string why;
  const std::optional<Keyring> ring = shoal::node::parse_keyring(text, &why);
  if (!ring) {
    check(!why.empty());
    return;
  }
  check(why.empty() && !ring->empty());
  const std::string file = shoal::node::format_keyring(*ring);
  const std::optional<Keyring> back = shoal::node::parse_keyring(file, nullptr);
  check(back.has_value() && back->keys() == ring->keys());
  check(back->primary_id() == shoal::node::key_id(ring->primary()));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

void key_text(std::string_view text) {
  std::string why;
  const std::optional<Key> key = shoal::node::decode_key(text, &why);
  if (!key) {
    check(!why.empty());
    return;
  }
  check(why.empty());
  check(shoal::node::encode_key(*key) == trim(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (Channel channel : {Channel::kDatagram, Channel::kFrame}) {
    open_as_received(seals().required, channel, bytes);
    open_as_received(seals().accepting, channel, bytes);
  }
  uint32_t choice = 0;
  for (size_t i = 0; i < size && i < 8; ++i) choice = choice * 131 + data[size - 1 - i];
  seal_and_tamper(bytes, choice);
  keyring_text(bytes);
  key_text(bytes);
  return 0;
}
