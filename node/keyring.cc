// Copyright shoal authors. See keyring.h.

#include "shoal/node/keyring.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace shoal::node {

void ensure_sodium() {
  static const int ready = sodium_init();  // thread-safe, idempotent; -1: unusable
  if (ready < 0) {
    std::fprintf(stderr, "libsodium failed to initialize\n");
    std::abort();
  }
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

Key generate_key() {
  ensure_sodium();
  Key k;
  randombytes_buf(k.data(), k.size());
  return k;
}

KeyId key_id(const Key& key) {
  ensure_sodium();
  static constexpr std::string_view kLabel = "shoal key id v1:";
  unsigned char in[kLabel.size() + kKeyBytes];
  std::memcpy(in, kLabel.data(), kLabel.size());
  std::memcpy(in + kLabel.size(), key.data(), key.size());
  unsigned char out[crypto_generichash_BYTES_MIN];
  crypto_generichash(out, sizeof out, in, sizeof in, nullptr, 0);
  sodium_memzero(in, sizeof in);
  return static_cast<KeyId>(out[0]) << 24 | static_cast<KeyId>(out[1]) << 16 |
         static_cast<KeyId>(out[2]) << 8 | out[3];
}

std::string key_id_hex(KeyId id) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", id);
  return buf;
}

std::string encode_key(const Key& key) {
  ensure_sodium();
  char out[sodium_base64_ENCODED_LEN(kKeyBytes, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(out, sizeof out, key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  return out;
}

std::optional<Key> decode_key(std::string_view text, std::string* why) {
  ensure_sodium();
  text = trim(text);
  Key k;
  size_t len = 0;
  const char* end = nullptr;
  // libsodium 1.0.18's decoder takes any byte >= 0x80 for '/' (found by
  // tests/fuzz/seal_fuzzer.cc): only the alphabet, so a key has one text.
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
  if (text.size() != 44 || text.find_first_not_of(kAlphabet) != std::string_view::npos ||
      sodium_base642bin(k.data(), k.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != kKeyBytes || end != text.data() + text.size()) {
    if (why != nullptr) {
      *why = "not a key: a key is 32 bytes in base64 (44 characters, from `shoal keys generate`)";
    }
    return std::nullopt;
  }
  return k;
}

const Key* Keyring::find(KeyId id) const {
  for (size_t i = 0; i < ids_.size(); ++i) {
    if (ids_[i] == id) return &keys_[i];
  }
  return nullptr;
}

std::string Keyring::install(const Key& key) {
  const KeyId id = key_id(key);
  if (const Key* k = find(id)) {
    if (*k == key) return "";
    return "key " + key_id_hex(id) + " has the id of another key of the ring; generate another";
  }
  keys_.push_back(key);
  ids_.push_back(id);
  return "";
}

std::string Keyring::use(const Key& key) {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] != key) continue;
    std::swap(keys_[0], keys_[i]);
    std::swap(ids_[0], ids_[i]);
    return "";
  }
  return "key " + key_id_hex(key_id(key)) + " is not installed; install it first";
}

std::string Keyring::remove(const Key& key) {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] != key) continue;
    if (i == 0) {
      return "key " + key_id_hex(ids_[0]) +
             " is the primary key; use another key first, then remove this one";
    }
    keys_.erase(keys_.begin() + static_cast<std::ptrdiff_t>(i));
    ids_.erase(ids_.begin() + static_cast<std::ptrdiff_t>(i));
    return "";
  }
  return "key " + key_id_hex(key_id(key)) + " is not installed";
}

std::string format_keyring(const Keyring& ring) {
  std::string out = "# shoal keyring: one base64 key per line, the primary first\n";
  for (const Key& k : ring.keys()) out += encode_key(k) + "\n";
  return out;
}

std::optional<Keyring> parse_keyring(std::string_view text, std::string* why) {
  Keyring ring;
  int line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    std::string bad;
    auto key = decode_key(line, &bad);
    if (key) bad = ring.install(*key);
    if (!bad.empty()) {
      if (why != nullptr) *why = "line " + std::to_string(line_no) + ": " + bad;
      return std::nullopt;
    }
  }
  if (ring.empty()) {
    if (why != nullptr) *why = "no key in it (generate one with `shoal keys generate`)";
    return std::nullopt;
  }
  return ring;
}

std::optional<Keyring> load_keyring_file(const std::string& path, std::string* why) {
  auto fail = [&](const std::string& what) -> std::optional<Keyring> {
    if (why != nullptr) *why = "keyring file " + path + ": " + what;
    return std::nullopt;
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(errno_text());
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(std::string("group or others may access it (mode ") + mode +
                "); keys must be private: chmod 600 " + path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errno_text());
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > 64 * 1024) return fail("over 64 KiB: not a keyring");
  std::string bad;
  auto ring = parse_keyring(text.str(), &bad);
  if (!ring) return fail(bad);
  return ring;
}

std::string save_keyring_file(const std::string& path, const Keyring& ring) {
  // A fresh temporary file (O_EXCL, mode 0600): nothing planted beside
  // the keyring can receive the keys.
  std::string tmp = path + ".XXXXXX";
  const std::string text = format_keyring(ring);
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return "keyring file " + tmp + ": " + errno_text();
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string err = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return "keyring file " + tmp + ": write: " + err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0) {
    const std::string err = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    return "keyring file " + tmp + ": " + err;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = errno_text();
    ::unlink(tmp.c_str());
    return "keyring file " + path + ": rename: " + err;
  }
  // The rename itself is durable once the directory is synced.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return "";
}

std::string_view to_string(Encryption e) {
  switch (e) {
    case Encryption::kOff:
      return "off";
    case Encryption::kAcceptPlaintext:
      return "accept-plaintext";
    case Encryption::kRequired:
      return "required";
  }
  return "?";
}

std::optional<Encryption> parse_encryption(std::string_view text) {
  for (Encryption e : {Encryption::kOff, Encryption::kAcceptPlaintext, Encryption::kRequired}) {
    if (text == to_string(e)) return e;
  }
  return std::nullopt;
}

}  // namespace shoal::node
