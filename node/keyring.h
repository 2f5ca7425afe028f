// Copyright shoal authors. The keyring: the cluster's symmetric keys, and
// the file they live in (docs/SECURITY.md).
//
// A key is 32 random bytes, written as base64 (44 characters). A keyring
// holds one or more keys; the first is the primary, which seals what this
// node sends; every key opens what arrives. Each key has a 4-byte id (the
// first bytes of its BLAKE2b hash) that travels in the clear, so a
// receiver picks the one key to try; two keys of one ring never share an
// id.
//
// Rotation (memberlist's and serf's install / use / remove): install the
// new key everywhere, use it (make it primary) everywhere, then remove the
// old one. The primary cannot be removed.
//
// The file: one base64 key per line, primary first; blank lines and lines
// starting with '#' are ignored. Like ssh with its private keys, a file
// that group or others may access is refused. Saving writes a temporary
// file beside it, fsyncs it and renames it over the old one, so a crash
// leaves either the old ring or the new one.
//
// Thread safety: a Keyring is a value; the file functions are reentrant.

#ifndef SHOAL_NODE_KEYRING_H_
#define SHOAL_NODE_KEYRING_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::node {

inline constexpr size_t kKeyBytes = 32;
using Key = std::array<unsigned char, kKeyBytes>;
using KeyId = uint32_t;

// Initializes libsodium once (thread-safe); aborts if it cannot be used.
void ensure_sodium();
// A new random key (libsodium's CSPRNG).
Key generate_key();
KeyId key_id(const Key& key);
// "1a2b3c4d": how keys are named in logs, `shoal keys list` and errors.
std::string key_id_hex(KeyId id);
std::string encode_key(const Key& key);  // base64, 44 characters
// A key from its base64 text (surrounding blanks ignored); nullopt and
// `why` if it is not base64 of exactly 32 bytes.
std::optional<Key> decode_key(std::string_view text, std::string* why);

// How a node treats the seal (node/seal.h has what each mode does):
// kOff: plaintext, no keyring; kAcceptPlaintext: seals to peers that open
// sealed messages and accepts both (the rollout mode); kRequired: seals
// everything and drops plaintext.
enum class Encryption : uint8_t { kOff, kAcceptPlaintext, kRequired };
// "off", "accept-plaintext", "required", and back (nullopt: none of those).
std::string_view to_string(Encryption e);
std::optional<Encryption> parse_encryption(std::string_view text);

class Keyring {
 public:
  bool empty() const { return keys_.empty(); }
  size_t size() const { return keys_.size(); }
  // The primary key; precondition: !empty().
  const Key& primary() const { return keys_.front(); }
  KeyId primary_id() const { return ids_.front(); }
  // The key with id `id`, or null.
  const Key* find(KeyId id) const;
  // Every key, the primary first.
  const std::vector<Key>& keys() const { return keys_; }

  // Each returns "" on success, else why nothing changed.
  // Adds a key (the first one installed becomes the primary); installing
  // a key that is already there is a success.
  std::string install(const Key& key);
  // Makes an installed key the primary.
  std::string use(const Key& key);
  // Removes a key that is not the primary.
  std::string remove(const Key& key);

 private:
  std::vector<Key> keys_;
  std::vector<KeyId> ids_;
};

// The file's text for `ring`, and back.
std::string format_keyring(const Keyring& ring);
std::optional<Keyring> parse_keyring(std::string_view text, std::string* why);

// Reads a keyring file; nullopt and `why` if it cannot be read, group or
// others may access it, or it holds no key or a bad line.
std::optional<Keyring> load_keyring_file(const std::string& path, std::string* why);
// Replaces the file atomically (a new temp file, mode 0600, fsync, rename,
// fsync of the directory); "" on success, else why it failed.
std::string save_keyring_file(const std::string& path, const Keyring& ring);

}  // namespace shoal::node

#endif  // SHOAL_NODE_KEYRING_H_
