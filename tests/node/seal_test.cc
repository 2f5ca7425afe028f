// Copyright shoal authors. The seal and the keyring (node/seal.h,
// node/keyring.h): every way a sealed message can be wrong is refused, and
// counted under the right reason.

#include "shoal/node/seal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "shoal/node/engine.h"
#include "shoal/node/keyring.h"
#include "shoal/proto/codec.h"

namespace shoal::node {
namespace {

using proto::DecodeError;
using Channel = Seal::Channel;

Keyring ring_of(std::initializer_list<Key> keys) {
  Keyring r;
  for (const Key& k : keys) EXPECT_EQ(r.install(k), "");
  return r;
}

std::string sealed(Seal& s, std::string_view plain, Channel ch = Channel::kDatagram) {
  std::string out;
  s.seal(ch, plain, out);
  return out;
}

TEST(Seal, RoundTripAddsExactlyTheOverhead) {
  const Key k = generate_key();
  Seal a("c", Encryption::kRequired, ring_of({k}));
  Seal b("c", Encryption::kRequired, ring_of({k}));
  for (std::string plain : {std::string(), std::string("x"), std::string(1355, 'p')}) {
    const std::string s = sealed(a, plain);
    EXPECT_EQ(s.size(), plain.size() + kSealOverhead);
    EXPECT_EQ(static_cast<unsigned char>(s[0]), kSealedMarker);
    auto o = b.open(Channel::kDatagram, s);
    ASSERT_TRUE(o.ok()) << o.detail;
    EXPECT_TRUE(o.sealed);
    EXPECT_EQ(o.key_id, key_id(k));
    EXPECT_EQ(o.plain, plain);
  }
}

TEST(Seal, NoncesDifferSoEqualMessagesLookDifferent) {
  Seal a("c", Encryption::kRequired, ring_of({generate_key()}));
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(sealed(a, "same"));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Seal, OneFlippedBitAnywhereDoesNotOpen) {
  const Key k = generate_key();
  Seal a("c", Encryption::kRequired, ring_of({k}));
  const std::string s = sealed(a, "a gossip datagram of some length");
  for (size_t i = 0; i < s.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = s;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto o = a.open(Channel::kDatagram, bad);
      if (i == 0) {
        // No longer starts with the marker: plaintext, refused as such.
        EXPECT_EQ(o.error, DecodeError::kPlaintextRefused) << i << "." << bit;
      } else {
        EXPECT_EQ(o.error, DecodeError::kDecryptFailed) << i << "." << bit;
      }
    }
  }
}

TEST(Seal, WrongKeyUnknownIdTruncatedOtherClusterOtherChannel) {
  const Key k = generate_key();
  Seal a("c", Encryption::kRequired, ring_of({k}));
  const std::string s = sealed(a, "hello");

  Seal other_key("c", Encryption::kRequired, ring_of({generate_key()}));
  auto o = other_key.open(Channel::kDatagram, s);
  EXPECT_EQ(o.error, DecodeError::kDecryptFailed);
  EXPECT_NE(o.detail.find("does not have"), std::string::npos) << o.detail;

  // A key with the same id but other bytes cannot be built on purpose;
  // an id collision is refused at install. Same key, other cluster:
  Seal other_cluster("d", Encryption::kRequired, ring_of({k}));
  o = other_cluster.open(Channel::kDatagram, s);
  EXPECT_EQ(o.error, DecodeError::kDecryptFailed);
  EXPECT_NE(o.detail.find("did not open"), std::string::npos) << o.detail;

  // A datagram replayed as a frame.
  EXPECT_EQ(a.open(Channel::kFrame, s).error, DecodeError::kDecryptFailed);

  for (size_t n = 1; n < s.size(); ++n) {
    EXPECT_EQ(a.open(Channel::kDatagram, s.substr(0, n)).error, DecodeError::kDecryptFailed) << n;
  }
  // A node without a keyring says so.
  Seal off("c", Encryption::kOff);
  o = off.open(Channel::kDatagram, s);
  EXPECT_EQ(o.error, DecodeError::kDecryptFailed);
  EXPECT_EQ(o.detail, kNoKeyringDetail);
}

TEST(Seal, ModesDecideWhatPlaintextDoesAndWhatIsSent) {
  const Key k = generate_key();
  Seal required("c", Encryption::kRequired, ring_of({k}));
  Seal accept("c", Encryption::kAcceptPlaintext, ring_of({k}));
  Seal off("c", Encryption::kOff);
  EXPECT_EQ(required.open(Channel::kDatagram, "plain").error, DecodeError::kPlaintextRefused);
  EXPECT_EQ(accept.open(Channel::kDatagram, "plain").plain, "plain");
  EXPECT_FALSE(accept.open(Channel::kDatagram, "plain").sealed);
  EXPECT_EQ(off.open(Channel::kDatagram, "plain").plain, "plain");

  EXPECT_TRUE(required.seals_to("10.0.0.1:1"));
  EXPECT_FALSE(off.seals_to("10.0.0.1:1"));
  // accept-plaintext: plaintext to a peer not heard from, or heard in
  // plaintext without opens_sealed; sealed once it showed it opens them.
  EXPECT_FALSE(accept.seals_to("10.0.0.1:1"));
  accept.heard("10.0.0.1:1", /*sealed=*/false, /*opens_sealed=*/true);
  EXPECT_TRUE(accept.seals_to("10.0.0.1:1"));
  accept.heard("10.0.0.1:1", false, false);  // restarted without a keyring
  EXPECT_FALSE(accept.seals_to("10.0.0.1:1"));
  accept.heard("10.0.0.1:1", true, false);
  EXPECT_TRUE(accept.seals_to("10.0.0.1:1"));
}

TEST(Seal, AnswersGoWithTheRequestsKeyWhileTheRingHasIt) {
  const Key old_key = generate_key(), new_key = generate_key();
  Keyring both = ring_of({new_key, old_key});
  Seal node("c", Encryption::kRequired, both);
  Seal client_old("c", Encryption::kRequired, ring_of({old_key}));
  std::string out;
  node.seal(Channel::kFrame, "answer", out, SealWith(key_id(old_key)));
  EXPECT_TRUE(client_old.open(Channel::kFrame, out).ok());
  // Once the old key is gone, the primary seals.
  ASSERT_EQ(node.keyring().remove(old_key), "");
  out.clear();
  node.seal(Channel::kFrame, "answer", out, SealWith(key_id(old_key)));
  EXPECT_EQ(client_old.open(Channel::kFrame, out).error, DecodeError::kDecryptFailed);
}

TEST(Seal, EncryptedDatagramsStayWithinTheBudget) {
  // The engine packs its core's datagrams smaller by the overhead.
  EngineOptions o;
  o.protocol.address = "127.0.0.1:1";
  o.protocol.cluster = "c";
  o.protocol.incarnation = 1;
  o.seal = std::make_shared<Seal>("c", Encryption::kRequired, ring_of({generate_key()}));
  Engine e(o, 1, membership::Instant{});
  EXPECT_EQ(e.core().config().datagram_budget, o.protocol.datagram_budget - kSealOverhead);
}

// A busy sealed node: every datagram it sends, seal included, fits the
// 1400-byte budget, and opens at a peer holding the key.
TEST(Seal, EverySealedDatagramFitsTheBudget) {
  const Key k = generate_key();
  EngineOptions o;
  o.protocol.address = "127.0.0.1:1";
  o.protocol.cluster = "c";
  o.protocol.incarnation = 1;
  o.seal = std::make_shared<Seal>("c", Encryption::kAcceptPlaintext, ring_of({k}));
  Engine e(o, 7, membership::Instant{});
  Seal peer("c", Encryption::kRequired, ring_of({k}));
  // 300 members with big labels, learned from a sealed peer's gossip.
  for (int i = 0; i < 300; i += 5) {
    membership::Gossip g{"127.0.0.2:1", 0, {}};
    if (i == 0) {
      g.changes.push_back(
          membership::Change{"127.0.0.2:1", membership::Status::kAlive, 1, {}, "127.0.0.2:1", 0});
    }
    for (int j = i; j < i + 5; ++j) {
      g.changes.push_back(
          membership::Change{"127.0.1." + std::to_string(j % 250) + ":" + std::to_string(1000 + j),
                             membership::Status::kAlive,
                             1,
                             {{"zone", std::string(200, 'z')}},
                             "127.0.0.2:1",
                             0});
    }
    const std::string bytes = peer.datagram("127.0.0.1:1", g);
    ASSERT_FALSE(e.on_datagram("127.0.0.2:1", bytes, membership::Instant{}).dropped());
  }
  size_t sent = 0, sealed_n = 0, biggest = 0;
  for (int t = 0; t < 20000; t += 50) {
    const membership::Instant now{std::chrono::milliseconds(t)};
    if (t % 1000 == 0) {  // the sealed peer pings: the acks go back sealed
      const membership::Ping ping{
          static_cast<uint64_t>(t + 1), "127.0.0.2:1", "127.0.0.1:1", 0, {}};
      ASSERT_FALSE(e.on_datagram("127.0.0.2:1", peer.datagram("127.0.0.1:1", ping), now).dropped());
    }
    e.tick(now);
    for (const auto& d : e.take_datagrams()) {
      ++sent;
      biggest = std::max(biggest, d.bytes.size());
      EXPECT_LE(d.bytes.size(), o.protocol.datagram_budget);
      if (static_cast<unsigned char>(d.bytes[0]) == kSealedMarker) {
        ++sealed_n;
        EXPECT_TRUE(peer.open(Seal::Channel::kDatagram, d.bytes).ok());
      }
    }
  }
  EXPECT_GT(sent, 100u);
  EXPECT_GT(biggest, 1300u);  // the budget was really used
  // Only the peer that showed it opens sealed datagrams gets them sealed.
  EXPECT_GT(sealed_n, 0u);
  EXPECT_LT(sealed_n, sent);
}

// App gossip is sealed like the rest: a user event and a query answer
// forged without the key (plaintext, or sealed with another key) are
// dropped and counted, and nothing reaches the app; the same event sealed
// with the key is delivered (so the attack really was refused).
TEST(Seal, AppGossipWithoutTheKeyChangesNothing) {
  const Key k = generate_key();
  EngineOptions o;
  o.protocol.address = "127.0.0.1:1";
  o.protocol.cluster = "c";
  o.protocol.incarnation = 1;
  o.seal = std::make_shared<Seal>("c", Encryption::kRequired, ring_of({k}));
  Engine e(o, 3, membership::Instant{});
  membership::Gossip g{"127.0.0.9:1", 0, {}};
  membership::AppMessage ev{membership::AppKind::kEvent, "127.0.0.9:1", 0, 5, 0, "deploy", "pwn"};
  g.app = {ev};
  const membership::QueryAnswer forged{42, "127.0.0.9:1", false, "fake"};
  const membership::Instant now{};

  EXPECT_EQ(e.on_datagram("127.0.0.9:1", proto::encode_datagram("c", g), now).error,
            DecodeError::kPlaintextRefused);
  EXPECT_EQ(e.on_datagram("127.0.0.9:1", proto::encode_datagram("c", forged), now).error,
            DecodeError::kPlaintextRefused);
  Seal other("c", Encryption::kRequired, ring_of({generate_key()}));
  EXPECT_EQ(e.on_datagram("127.0.0.9:1", other.datagram("127.0.0.1:1", g), now).error,
            DecodeError::kDecryptFailed);
  EXPECT_TRUE(e.take_app_deliveries().empty());
  EXPECT_EQ(e.core().stats().app_delivered, 0u);
  EXPECT_EQ(e.core().pending_app(), 0u);  // and nothing to pass on

  Seal peer("c", Encryption::kRequired, ring_of({k}));
  EXPECT_FALSE(e.on_datagram("127.0.0.9:1", peer.datagram("127.0.0.1:1", g), now).dropped());
  const auto got = e.take_app_deliveries();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "pwn");
}

TEST(Keyring, InstallUseRemove) {
  const Key a = generate_key(), b = generate_key();
  Keyring r;
  EXPECT_EQ(r.install(a), "");
  EXPECT_EQ(r.install(a), "");  // again: no change
  EXPECT_EQ(r.size(), 1u);
  EXPECT_NE(r.use(b), "");  // not installed
  EXPECT_EQ(r.install(b), "");
  EXPECT_EQ(r.primary(), a);
  EXPECT_NE(r.remove(a).find("primary"), std::string::npos);
  EXPECT_EQ(r.use(b), "");
  EXPECT_EQ(r.primary(), b);
  EXPECT_EQ(r.primary_id(), key_id(b));
  EXPECT_EQ(r.remove(a), "");
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.find(key_id(a)), nullptr);
  EXPECT_NE(r.remove(a), "");
}

TEST(Keyring, KeysParseOnlyAsBase64Of32Bytes) {
  const Key k = generate_key();
  std::string why;
  EXPECT_EQ(decode_key(" " + encode_key(k) + " ", &why), k);
  EXPECT_FALSE(decode_key("", &why));
  EXPECT_FALSE(decode_key(encode_key(k).substr(1), &why));
  EXPECT_FALSE(decode_key("!" + encode_key(k).substr(1), &why));
  EXPECT_FALSE(decode_key("aGVsbG8=", &why));  // 5 bytes
  EXPECT_NE(why.find("32 bytes"), std::string::npos);
  auto r = parse_keyring("# c\n\n" + encode_key(k) + "\n", &why);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->primary(), k);
  EXPECT_FALSE(parse_keyring("# nothing\n", &why));
  EXPECT_FALSE(parse_keyring(encode_key(k) + "\nnot a key\n", &why));
  EXPECT_NE(why.find("line 2"), std::string::npos) << why;
}

TEST(Keyring, FileIsRefusedUnlessPrivateAndSavedAtomically) {
  char dir[] = "/tmp/shoal-keyring-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/ring";
  const Key a = generate_key(), b = generate_key();
  Keyring r = ring_of({a, b});
  ASSERT_EQ(save_keyring_file(path, r), "");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string why;
  auto loaded = load_keyring_file(path, &why);
  ASSERT_TRUE(loaded) << why;
  EXPECT_EQ(loaded->keys(), r.keys());
  // The temporary file was renamed over the keyring: nothing else is left.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            1);
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  EXPECT_FALSE(load_keyring_file(path, &why));
  EXPECT_NE(why.find("chmod 600"), std::string::npos) << why;
  EXPECT_FALSE(load_keyring_file(path + "-missing", &why));
  std::remove(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace shoal::node
