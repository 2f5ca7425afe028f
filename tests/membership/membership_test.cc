// Unit tests of the membership core: pure math table-driven, the
// dissemination queue, and the state machine driven by hand in virtual
// time (no network: each test plays the peers itself).

#include "shoal/membership/membership.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "shoal/membership/dissemination.h"
#include "shoal/membership/lifeguard.h"
#include "shoal/membership/member_address.h"

namespace shoal::membership {
namespace {

// "<prefix><i><suffix>", built by appending: GCC 12 at -O3 reports a
// -Wrestrict false positive for "m" + std::to_string(i) + ":1".
std::string numbered(std::string_view prefix, int i, std::string_view suffix) {
  std::string out(prefix);
  out += std::to_string(i);
  out += suffix;
  return out;
}

using std::chrono::milliseconds;
using std::chrono::seconds;

// ------------------------------------------------------ pure functions

TEST(Precedence, HigherIncarnationThenHigherStatusWins) {
  struct Row {
    Incarnation ia;
    Status sa;
    Incarnation ib;
    Status sb;
    bool wins;
  };
  const Row rows[] = {
      {2, Status::kAlive, 1, Status::kTombstone, true},  // incarnation first
      {1, Status::kTombstone, 2, Status::kAlive, false},
      {5, Status::kSuspect, 5, Status::kAlive, true},  // then status order
      {5, Status::kFaulty, 5, Status::kSuspect, true},
      {5, Status::kLeave, 5, Status::kFaulty, true},
      {5, Status::kTombstone, 5, Status::kLeave, true},
      {5, Status::kAlive, 5, Status::kSuspect, false},
      {5, Status::kAlive, 5, Status::kAlive, false},  // equal: not newer
      {5, Status::kFaulty, 5, Status::kFaulty, false},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(overrides(r.ia, r.sa, r.ib, r.sb), r.wins)
        << r.ia << "/" << to_string(r.sa) << " vs " << r.ib << "/" << to_string(r.sb);
  }
}

TEST(Lifeguard, SuspicionTimeoutShrinksWithConfirmations) {
  // max - (max - min) * log(C + 1) / log(K + 1), K = 3, min 1 s, max 5 s.
  struct Row {
    int confirmations;
    int expected;
    milliseconds want;
  };
  const Row rows[] = {
      {0, 3, milliseconds(5000)},  // alone: the maximum
      {1, 3, milliseconds(3000)},  // log 2 / log 4 = 1/2
      {2, 3, milliseconds(1830)},  // log 3 / log 4 = 0.7925 -> 5 - 3.170
      {3, 3, milliseconds(1000)},  // K confirmations: the minimum
      {9, 3, milliseconds(1000)},  // never below it
      {0, 0, milliseconds(1000)},  // no confirmations expected: minimum
      {-1, 3, milliseconds(5000)},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(suspicion_timeout(r.confirmations, r.expected, seconds(1), seconds(5)), r.want)
        << "C=" << r.confirmations << " K=" << r.expected;
  }
  EXPECT_EQ(suspicion_timeout(1, 3, seconds(2), seconds(2)), seconds(2));
}

TEST(Lifeguard, AwarenessIsClampedAndScales) {
  Awareness a(8);
  EXPECT_EQ(a.scale(milliseconds(100)), milliseconds(100));
  a.apply(-3);
  EXPECT_EQ(a.score(), 0);
  a.apply(3);
  EXPECT_EQ(a.scale(milliseconds(100)), milliseconds(400));
  a.apply(100);
  EXPECT_EQ(a.score(), 7);
  EXPECT_EQ(a.scale(milliseconds(200)), milliseconds(1600));
}

// Labels ride in every alive claim: at most 512 bytes (memberlist's
// MetaMaxSize), and this member's claim must fit a datagram.
TEST(ConfigTest, LabelsAreBounded) {
  Config c;
  c.address = "10.0.0.1:7000";
  c.labels = {{"zone", std::string(508, 'z')}};  // 4 + 508 = 512 bytes
  EXPECT_EQ(c.validate(), "");
  c.labels["a"] = "";
  EXPECT_EQ(c.validate(), "labels: 513 bytes, over the 512-byte limit");
  c.labels = {{"zone", std::string(508, 'z')}};
  c.datagram_budget = 512;  // the claim no longer fits with a ping around it
  EXPECT_NE(c.validate().find("does not fit datagram_budget"), std::string::npos) << c.validate();
}

TEST(ConfigTest, ValidateNamesTheBadField) {
  Config c;
  EXPECT_EQ(c.validate(), "address: must not be empty");
  c.address = "a:1";
  EXPECT_EQ(c.validate(), "");
  c.protocol_period = milliseconds(10);
  EXPECT_EQ(c.validate(), "protocol_period: 10ms is below the 50ms minimum");
  c.protocol_period = milliseconds(200);
  c.suspicion_max = milliseconds(500);
  EXPECT_NE(c.validate().find("suspicion_max"), std::string::npos);
  c.suspicion_max = seconds(5);
  c.ping_timeout = milliseconds(300);
  EXPECT_NE(c.validate().find("ping_timeout"), std::string::npos);
  c.ping_timeout = milliseconds(100);
  c.lag_tolerance = milliseconds(-1);
  EXPECT_EQ(c.validate(), "lag_tolerance: must be >= 0");
}

// --------------------------------------------------------- dissemination

Change change(const std::string& address, Incarnation inc = 1, Status s = Status::kAlive) {
  return Change{address, s, inc, {}, "src:1", 0};
}

std::vector<std::string> addresses(const std::vector<Change>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs) out.push_back(c.name);
  return out;
}

TEST(DisseminatorTest, FewestSendsFirstThenNewest) {
  Disseminator d;
  EXPECT_TRUE(d.enqueue(change("a:1")));
  EXPECT_TRUE(d.enqueue(change("b:1")));
  std::vector<Change> out;
  d.fill(out, 10000, 1, 10);  // sends b (newest), once
  EXPECT_EQ(addresses(out), std::vector<std::string>{"b:1"});
  EXPECT_TRUE(d.enqueue(change("c:1")));
  out.clear();
  d.fill(out, 10000, 10, 10);
  // a and c have 0 sends (c newer), b has 1.
  EXPECT_EQ(addresses(out), (std::vector<std::string>{"c:1", "a:1", "b:1"}));
}

// The priority class (claims about this node and members it heard from
// directly) leads, whatever the other class holds; promote() moves a
// queued claim up when its member is heard.
TEST(DisseminatorTest, PriorityClassFirstAndPromotion) {
  Disseminator d;
  EXPECT_TRUE(d.enqueue(change("real:1"), true));
  std::vector<Change> out;
  d.fill(out, 10000, 1, 10);  // real:1 sent once
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(d.enqueue(change(numbered("invented-", i, ":1")), false));
  }
  EXPECT_TRUE(d.enqueue(change("newcomer:1"), false));
  out.clear();
  d.fill(out, 10000, 2, 10);
  // real:1 (priority, 1 send) before 51 unsent others; then the newest.
  EXPECT_EQ(addresses(out), (std::vector<std::string>{"real:1", "newcomer:1"}));
  d.promote("invented-3:1");
  out.clear();
  d.fill(out, 10000, 2, 10);
  EXPECT_EQ(addresses(out), (std::vector<std::string>{"invented-3:1", "real:1"}));
}

TEST(DisseminatorTest, DropsAfterLimitAndReplacesByAddress) {
  Disseminator d;
  EXPECT_TRUE(d.enqueue(change("a:1", 1)));
  EXPECT_TRUE(d.enqueue(change("a:1", 2)));  // replaces
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.find("a:1")->incarnation, 2u);
  for (int i = 0; i < 3; ++i) {
    std::vector<Change> out;
    d.fill(out, 10000, 10, 3);
    EXPECT_EQ(out.size(), 1u);
  }
  EXPECT_TRUE(d.empty());
}

// A change that can never fit a datagram is refused, not queued to block
// the head of the queue forever (17 of them used to starve dissemination).
TEST(DisseminatorTest, ChangesTooBigForAnyDatagramAreNeverQueued) {
  Disseminator d(200);
  Change big = change("a:1");
  big.labels["k"] = std::string(300, 'v');
  EXPECT_FALSE(d.enqueue(big));
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(d.enqueue(change("b:1")));
  std::vector<Change> out;
  d.fill(out, 1000, 64, 10);
  ASSERT_EQ(out.size(), 1u);
  // A big claim does not replace the pending one either.
  big.name = "b:1";
  EXPECT_FALSE(d.enqueue(big));
  EXPECT_NE(d.find("b:1"), nullptr);
}

TEST(DisseminatorTest, PacksByEncodedSizeAndPutsFirstFirst) {
  Disseminator d;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(d.enqueue(change(numbered("member-", i, ":7000"))));
  std::vector<Change> out;
  const size_t budget = 300;
  const size_t used = d.fill(out, budget, 1000, 10, "member-7:7000");
  size_t sum = 0;
  for (const auto& c : out) sum += encoded_change_size(c);
  EXPECT_EQ(used, sum);
  EXPECT_LE(used, budget);
  EXPECT_GT(out.size(), 5u);
  EXPECT_EQ(out.front().name, "member-7:7000");
}

// ------------------------------------------------------- the state machine

struct Harness {
  Membership m;
  Instant now{};
  std::vector<OutDatagram> sent;
  std::vector<MemberEvent> events;

  explicit Harness(const std::string& address = "self:1", Incarnation inc = 100, uint64_t seed = 7,
                   const std::string& name = "")
      : m(make_config(address, inc, name), seed, Instant{}) {}

  static Config make_config(const std::string& address, Incarnation inc,
                            const std::string& name = "") {
    Config c;
    c.address = address;
    c.name = name;
    c.incarnation = inc;
    return c;
  }

  // Members that answer every ping at once.
  std::set<std::string> responsive;
  // Helpers nack at once when asked to probe a member that is not
  // responsive (what live helpers do after their ping timeout).
  bool nack_silent_targets = false;
  // Responsive members' acks carry this node's own checksum (they agree):
  // no full sync is triggered.
  bool acks_agree = false;

  void drain() {
    std::vector<Nack> nacks;
    for (int round = 0; round < 100; ++round) {
      std::vector<Ack> acks;
      for (auto& d : m.take_datagrams()) {
        if (const Ping* p = std::get_if<Ping>(&d.message); p && responsive.count(d.to) != 0) {
          acks.push_back(Ack{p->seq, d.to, acks_agree ? m.checksum() : 0, {}});
        }
        if (const PingReq* r = std::get_if<PingReq>(&d.message);
            r && nack_silent_targets && responsive.count(r->target) == 0) {
          nacks.push_back(Nack{r->seq, d.to, {}});
        }
        sent.push_back(std::move(d));
      }
      for (auto& e : m.take_events()) events.push_back(std::move(e));
      if (acks.empty() && nacks.empty()) return;
      for (const Ack& a : acks) m.on_message(a.source, a, now);
      for (const Nack& n : nacks) m.on_message(n.source, n, now);
      nacks.clear();
    }
  }
  // Advances virtual time to t, ticking at every deadline on the way.
  void advance_to(Instant t) {
    for (int guard = 0; guard < 100000; ++guard) {
      const Instant d = m.next_deadline();
      if (d > t) break;
      now = std::max(now, d);
      m.tick(now);
      drain();
    }
    now = t;
    m.tick(now);
    drain();
  }
  void advance(Duration d) { advance_to(now + d); }
  // `from`: the transport address ("": none, answers go to the source).
  void receive(const Message& msg, const std::string& from = "") {
    m.on_message(from, msg, now);
    drain();
  }
  // Makes `address` a known alive member through a gossip claim.
  void learn(const std::string& address, Incarnation inc = 1, Status s = Status::kAlive) {
    receive(Gossip{"other:1", 0, {Change{address, s, inc, {}, "other:1", 0}}});
  }
  template <class T>
  std::vector<std::pair<std::string, T>> sent_of() const {
    std::vector<std::pair<std::string, T>> out;
    for (const auto& d : sent) {
      if (const T* t = std::get_if<T>(&d.message)) out.emplace_back(d.to, *t);
    }
    return out;
  }
  Status status_of(const std::string& a) const { return m.member(a)->status; }
};

// ---- member addresses: IP literals, one canonical text each ----

TEST(MemberAddress, CanonicalFormsAreAccepted) {
  for (const char* a : {"10.0.0.1:7000", "0.0.0.0:1", "255.255.255.255:65535", "[::1]:7000",
                        "[::]:1", "[2001:db8::1]:7946", "[1::]:1", "[1:0:2:3:4:5:6:7]:1",
                        "[fe80::1:0:0:1]:1", "[::ffff:10.0.0.1]:7000", "[1:2:3:4:5:6:7:8]:9"}) {
    EXPECT_EQ(check_member_address(a), "") << a;
    EXPECT_EQ(canonical_member_address(a), std::optional<std::string>(a)) << a;
  }
}

// ---- member names (docs/PROTOCOL.md "Names") ----

TEST(MemberName, NamesAndCanonicalAddressesOnly) {
  for (const char* n :
       {"shoal-0", "db1", "a", "pod_7.eu-west-1", "10.0.0.1:7000", "[::1]:7000", "0"}) {
    EXPECT_EQ(check_member_name(n), "") << n;
  }
  EXPECT_EQ(check_member_name(""), "empty name");
  EXPECT_EQ(check_member_name("-x"), "a name must start with a letter or digit");
  EXPECT_EQ(check_member_name(".x"), "a name must start with a letter or digit");
  EXPECT_EQ(check_member_name("a b"), "a name is letters, digits, '.', '_' and '-'");
  EXPECT_EQ(check_member_name("a\nb"), "a name is letters, digits, '.', '_' and '-'");
  EXPECT_EQ(check_member_name(std::string(65, 'a')), "name over 64 bytes");
  EXPECT_EQ(check_member_name(std::string(64, 'a')), "");
  EXPECT_EQ(check_member_name("[0::1]:7000"), "not canonical ([::1]:7000)");
  EXPECT_NE(check_member_name("db.internal:7000"), "");
  Config c;
  c.address = "10.0.0.1:7000";
  c.name = "bad name";
  EXPECT_EQ(c.validate(), "name: a name is letters, digits, '.', '_' and '-' (\"bad name\")");
  c.name = "10.0.0.2:7000";
  EXPECT_EQ(c.validate(),
            "name: \"10.0.0.2:7000\" is an address but not this node's (10.0.0.1:7000)");
  c.name = "10.0.0.1:7000";
  EXPECT_EQ(c.validate(), "");
  c.name = "good-name";
  EXPECT_EQ(c.validate(), "");
  EXPECT_EQ(c.identity(), "good-name");
}

struct Named : Harness {
  Named() : Harness("10.0.0.1:7000", 100, 7, "me") {}
  static Change claim(const std::string& name, Incarnation inc, const std::string& address,
                      Status s = Status::kAlive) {
    return Change{name, s, inc, {}, name, inc, address};
  }
  void hear(const Change& c) { receive(Gossip{"10.0.0.50:7000", 0, {c}}, "10.0.0.50:7000"); }
};

// The same total order on every node: a higher incarnation, then at equal
// incarnations the lower address; an older claim is stale.
TEST(MemberNames, ANameMovesOnlyToAWinningClaim) {
  Named h;
  h.hear(Named::claim("db-1", 5, "10.0.0.2:7000"));
  ASSERT_EQ(h.m.member("db-1")->address, "10.0.0.2:7000");
  h.hear(Named::claim("db-1", 4, "10.0.0.3:7000"));  // older
  EXPECT_EQ(h.m.member("db-1")->address, "10.0.0.2:7000");
  h.hear(Named::claim("db-1", 5, "10.0.0.3:7000"));  // equal, higher address
  EXPECT_EQ(h.m.member("db-1")->address, "10.0.0.2:7000");
  EXPECT_EQ(h.m.stats().members_moved, 0u);
  h.hear(Named::claim("db-1", 6, "10.0.0.3:7000"));  // newer: moves
  EXPECT_EQ(h.m.member("db-1")->address, "10.0.0.3:7000");
  h.hear(Named::claim("db-1", 6, "10.0.0.0:7000"));  // equal, lower address: moves
  EXPECT_EQ(h.m.member("db-1")->address, "10.0.0.0:7000");
  EXPECT_EQ(h.m.stats().members_moved, 2u);
  EXPECT_EQ(h.m.members().size(), 2u);  // one entry per name
  ASSERT_FALSE(h.events.empty());
  EXPECT_EQ(h.events.back().name, "db-1");
  EXPECT_EQ(h.events.back().address, "10.0.0.0:7000");
  // Probes go to the new address, naming the member.
  h.sent.clear();
  h.advance(seconds(1));
  const auto pings = h.sent_of<Ping>();
  ASSERT_FALSE(pings.empty());
  for (const auto& [to, p] : pings) {
    EXPECT_EQ(to, "10.0.0.0:7000");
    EXPECT_EQ(p.target, "db-1");
  }
}

// A claim that this node's name lives elsewhere: the node asks there. An
// answer from a process holding the name makes it stand down for good.
TEST(MemberNames, AnAnsweredNameCheckDisplacesTheNode) {
  Named h;
  h.hear(Named::claim("me", 150, "10.0.0.9:7000"));
  EXPECT_EQ(h.m.stats().name_conflicts, 1u);
  const auto checks = h.sent_of<Ping>();
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].first, "10.0.0.9:7000");
  EXPECT_EQ(checks[0].second.source, "me");
  EXPECT_EQ(checks[0].second.target, "me");
  // The ping's seq is a nonce: an answer without it proves nothing.
  for (uint64_t guess = 0; guess < 1000; ++guess) {
    h.receive(Ack{guess, "me", 0, {}}, "10.0.0.9:7000");
  }
  EXPECT_FALSE(h.m.displaced());
  // The holder may answer from another interface than the one claimed.
  h.receive(Ack{checks[0].second.seq, "me", 0, {}}, "10.0.0.8:7000");
  EXPECT_TRUE(h.m.displaced());
  EXPECT_EQ(h.m.displaced_by(), "10.0.0.9:7000");
  EXPECT_EQ(h.m.incarnation(), 150u);
  EXPECT_EQ(h.m.member("me")->address, "10.0.0.9:7000");
  // It takes no further part: no probes, and no ack for its old name.
  h.learn("10.0.0.2:7000");
  h.sent.clear();
  h.advance(seconds(5));
  EXPECT_TRUE(h.sent_of<Ping>().empty());
  h.receive(Ping{77, "10.0.0.2:7000", "me", 0, {}}, "10.0.0.2:7000");
  EXPECT_TRUE(h.sent_of<Ack>().empty());
  EXPECT_EQ(h.m.stats().refutations, 0u);
}

// Nobody answers at the claimed address (a forgery, or a dead process):
// after three periods the node refutes from its own address.
TEST(MemberNames, AnUnansweredNameCheckEndsInARefutation) {
  Named h;
  h.hear(Named::claim("me", 150, "10.0.0.9:7000"));
  h.advance(seconds(5));
  size_t checks = 0;
  for (const auto& [to, p] : h.sent_of<Ping>()) checks += to == "10.0.0.9:7000";
  EXPECT_EQ(checks, 3u);
  EXPECT_FALSE(h.m.displaced());
  EXPECT_EQ(h.m.incarnation(), 151u);
  EXPECT_EQ(h.m.member("me")->address, "10.0.0.1:7000");
  EXPECT_EQ(h.m.stats().refutations, 1u);
}

// Found in review: attacks on the check itself. A node whose check comes
// back to itself (the claimed address is another of its own) does not
// answer it; claims arriving during a check add no pings (no reflection
// to addresses an attacker picks) and do not prolong it; a claim beyond
// the incarnation horizon starts nothing; a leaving node never refutes.
TEST(MemberNames, TheCheckCannotBeTurnedAgainstTheNode) {
  Named h;
  h.hear(Named::claim("me", 150, "10.0.0.9:7000"));
  auto checks = h.sent_of<Ping>();
  ASSERT_EQ(checks.size(), 1u);
  h.sent.clear();
  h.receive(checks[0].second, "127.0.0.1:7000");  // our own ping, looped back
  EXPECT_TRUE(h.sent_of<Ack>().empty());
  for (int i = 0; i < 60; ++i) {
    h.hear(Named::claim("me", 151 + i, "10.0.1." + std::to_string(i) + ":7000"));
  }
  EXPECT_TRUE(h.sent_of<Ping>().empty());
  EXPECT_EQ(h.m.stats().name_conflicts, 1u);
  h.advance(seconds(5));
  size_t pings = 0;
  for (const auto& [to, p] : h.sent_of<Ping>()) pings += p.target == "me";
  EXPECT_EQ(pings, 2u);                // the remaining attempts, to the strongest claim's address
  EXPECT_EQ(h.m.incarnation(), 211u);  // refuted above the strongest claim
  EXPECT_FALSE(h.m.displaced());

  Named far;
  far.hear(Named::claim("me", Incarnation{1} << 59, "10.0.0.9:7000"));
  EXPECT_TRUE(far.sent_of<Ping>().empty());
  EXPECT_EQ(far.m.stats().changes_rejected, 1u);
  EXPECT_EQ(far.m.incarnation(), 100u);

  Named leaving;
  leaving.hear(Named::claim("me", 150, "10.0.0.9:7000"));
  leaving.m.leave(leaving.now);
  leaving.advance(seconds(5));
  EXPECT_EQ(leaving.m.member("me")->status, Status::kLeave);
  EXPECT_EQ(leaving.m.stats().refutations, 0u);
}

// Found by the membership fuzzer: the node's incarnation rose (another
// refutation) while it waited; a late answer must not make it yield to a
// claim it now outranks.
TEST(MemberNames, ALateAnswerDoesNotDisplaceANodeThatRoseMeanwhile) {
  Named h;
  h.hear(Named::claim("me", 150, "10.0.0.9:7000"));
  const auto checks = h.sent_of<Ping>();
  ASSERT_EQ(checks.size(), 1u);
  h.hear(Change{"me", Status::kSuspect, 160, {}, "10.0.0.50:7000", 1, "10.0.0.1:7000"});
  EXPECT_EQ(h.m.incarnation(), 161u);
  h.receive(Ack{checks[0].second.seq, "me", 0, {}}, "10.0.0.9:7000");
  EXPECT_FALSE(h.m.displaced());
  EXPECT_EQ(h.m.incarnation(), 161u);
}

TEST(MemberAddress, OtherSpellingsCanonicalise) {
  const std::pair<const char*, const char*> cases[] = {
      {"[0::1]:7000", "[::1]:7000"},
      {"[2001:DB8:0:0:0:0:0:1]:1", "[2001:db8::1]:1"},
      {"[2001:db8:0:0:1:0:0:1]:1", "[2001:db8::1:0:0:1]:1"},  // the first of equal runs
      {"[0:0:0:0:0:ffff:a00:1]:1", "[::ffff:10.0.0.1]:1"},
      {"[::0.0.0.1]:1", "[::1]:1"},
      {"010.0.0.1:7000", "10.0.0.1:7000"},
      {"10.0.0.1:07000", "10.0.0.1:7000"},
  };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(canonical_member_address(in), std::optional<std::string>(out)) << in;
    EXPECT_EQ(check_member_address(in), std::string("not canonical (") + out + ")") << in;
  }
}

TEST(MemberAddress, NamesAndNonsenseAreRejected) {
  for (const char* a : {"",
                        "localhost:7000",
                        "db-1.internal:7000",
                        "10.0.0.1",
                        "10.0.0.1:0",
                        "10.0.0.1:65536",
                        "10.0.0.256:1",
                        "10.0.0:1",
                        "10.0.0.1.2:1",
                        "::1:7000",
                        "[::1]7000",
                        "[::1]",
                        "[::1:7000",
                        "[1:2:3:4:5:6:7:8:9]:1",
                        "[1::2::3]:1",
                        "[:1]:1",
                        "[1:]:1",
                        "[12345::1]:1",
                        "[fe80::1%eth0]:1",
                        "[g::1]:1",
                        "10.0.0.1:+80",
                        " 10.0.0.1:1",
                        "[::ffff:1.2.3]:1"}) {
    EXPECT_FALSE(canonical_member_address(a).has_value()) << a;
    EXPECT_NE(check_member_address(a), "") << a;
  }
  EXPECT_FALSE(canonical_member_address(std::string(100, '1')).has_value());
  std::string why;
  (void)canonical_member_address("db-1:7000", &why);
  EXPECT_EQ(why, "not an IP address (DNS names are for seeds only)");
}

TEST(MembershipTest, StartsAloneAndAlive) {
  Harness h;
  EXPECT_EQ(h.m.pingable_count(), 1u);
  ASSERT_EQ(h.m.members().size(), 1u);
  EXPECT_EQ(h.m.members()[0].status, Status::kAlive);
  EXPECT_EQ(h.m.incarnation(), 100u);
  EXPECT_TRUE(h.m.joined());
  h.advance(seconds(10));
  EXPECT_TRUE(h.sent.empty());  // nobody to probe
}

TEST(MembershipTest, JoinContactsSeedsAndNeverGivesUpWhileAlone) {
  Harness h;
  h.m.join({"self:1", "s1:1", "s2:1", "s1:1"}, h.now);  // self and duplicate skipped
  auto ex = h.m.take_exchanges();
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_FALSE(h.m.joined());
  // Every attempt fails: retries back off, capped, forever; the silent
  // seeds never become members.
  std::vector<Instant> attempts;
  for (int round = 0; round < 30; ++round) {
    for (const auto& e : ex) h.m.on_tcp_failure(e.id, h.now);
    ex.clear();
    // Step through deadlines until the next attempt (bounded: 10 s).
    const Instant limit = h.now + seconds(10);
    while (ex.empty() && h.now < limit) {
      h.advance_to(std::min(h.m.next_deadline(), limit));
      ex = h.m.take_exchanges();
    }
    ASSERT_FALSE(ex.empty()) << "gave up after " << round << " rounds";
    attempts.push_back(h.now);
  }
  const Duration last_gap = attempts.back() - attempts[attempts.size() - 2];
  EXPECT_LE(last_gap, seconds(5) + milliseconds(1250));  // cap + 25% jitter
  EXPECT_GE(last_gap, seconds(5));
  EXPECT_EQ(h.m.members().size(), 1u);
  EXPECT_EQ(h.m.stats().joins_failed, 60u);
}

// The driver's fresh resolution of a seed name replaces the seeds: the
// next attempt goes to the new addresses, without one starting early.
TEST(MembershipTest, SetSeedsChangesWhomTheNextAttemptContacts) {
  Harness h;
  h.m.join({"name:1"}, h.now);
  auto ex = h.m.take_exchanges();
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].to, "name:1");
  h.m.set_seeds({"10.0.0.2:1", "10.0.0.3:1", "self:1", "10.0.0.2:1"});
  EXPECT_TRUE(h.m.take_exchanges().empty());
  EXPECT_EQ(h.m.seeds(), (std::vector<std::string>{"10.0.0.2:1", "10.0.0.3:1"}));
  h.m.on_tcp_failure(ex[0].id, h.now);
  const Instant limit = h.now + seconds(10);
  while (ex.empty() || ex[0].to == "name:1") {
    ASSERT_LT(h.now, limit);
    h.advance_to(std::min(h.m.next_deadline(), limit));
    ex = h.m.take_exchanges();
    if (h.now >= limit) break;
  }
  std::vector<std::string> to;
  for (const auto& e : ex) to.push_back(e.to);
  std::sort(to.begin(), to.end());
  EXPECT_EQ(to, (std::vector<std::string>{"10.0.0.2:1", "10.0.0.3:1"}));
}

TEST(MembershipTest, JoinResponseMergesMembers) {
  Harness h;
  h.m.join({"seed:1"}, h.now);
  auto ex = h.m.take_exchanges();
  ASSERT_EQ(ex.size(), 1u);
  const auto* req = std::get_if<JoinRequest>(&ex[0].request);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->source, "self:1");
  EXPECT_EQ(req->incarnation, 100u);
  JoinResponse resp{"seed:1",
                    0,
                    {{"seed:1", Status::kAlive, 5, {}},
                     {"a:1", Status::kAlive, 6, {{"zone", "b"}}},
                     {"dead:1", Status::kFaulty, 3, {}},
                     {"self:1", Status::kAlive, 100, {}}}};
  h.m.on_tcp_response(ex[0].id, resp, h.now);
  h.drain();
  EXPECT_TRUE(h.m.joined());
  EXPECT_EQ(h.m.members().size(), 4u);
  EXPECT_EQ(h.m.pingable_count(), 3u);
  EXPECT_EQ(h.m.member("a:1")->labels.at("zone"), "b");
  EXPECT_EQ(h.m.incarnation(), 100u);  // alive at our incarnation: no refute
}

// A node whose own joins fail while another member reaches it (the others'
// heal after a cut, with this node restarted meanwhile) counts as joined
// when its round ends: no further attempt would come, and it would never
// be ready. Before the fix joined() stayed false and no attempt followed.
TEST(MembershipTest, ReachedByAMemberWhileJoinsFailIsJoined) {
  Harness h;
  h.m.join({"seed:1"}, h.now);
  auto ex = h.m.take_exchanges();
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_FALSE(h.m.joined());
  // The seed heals into us while our own join is still out.
  h.m.on_tcp_request("seed:1", JoinRequest{"seed:1", 7, {}}, h.now);
  EXPECT_FALSE(h.m.joined());
  h.m.on_tcp_failure(ex[0].id, h.now);
  EXPECT_TRUE(h.m.joined());
  EXPECT_EQ(h.m.pingable_count(), 2u);
  // Alone again after a failed round (the other one left): not joined.
  Harness alone;
  alone.m.join({"seed:1"}, alone.now);
  auto ex2 = alone.m.take_exchanges();
  alone.m.on_tcp_failure(ex2[0].id, alone.now);
  EXPECT_FALSE(alone.m.joined());
}

TEST(MembershipTest, JoinRequestAddsTheJoinerAndAnswersEverything) {
  Harness h;
  auto resp = h.m.on_tcp_request("x", JoinRequest{"new:1", 42, {{"k", "v"}}}, h.now);
  const auto& join = std::get<JoinResponse>(resp);
  EXPECT_EQ(join.responder, "self:1");
  ASSERT_EQ(join.members.size(), 2u);
  EXPECT_EQ(h.m.member("new:1")->incarnation, 42u);
  EXPECT_EQ(join.checksum, h.m.checksum());
}

// The probe cycle, with both sides of every timing edge. Helpers are alive
// and nack for the silent target, so the health score stays 0 and no
// timeout is stretched.
// memberlist's fallback probe: a member whose UDP is lost both ways but
// that answers a ping over TCP is never suspected; one whose TCP fails too
// is, on the same schedule as without the fallback.
TEST(MembershipTest, TcpFallbackProbeKeepsAMemberWhoseUdpIsLost) {
  for (bool tcp_answers : {true, false}) {
    SCOPED_TRACE(tcp_answers ? "TCP answers" : "TCP fails too");
    Harness h;
    for (const char* a : {"t:1", "h1:1"}) h.learn(a);
    h.responsive.insert("h1:1");  // a helper, which cannot reach t:1 either
    h.nack_silent_targets = true;
    uint64_t answered = 0;
    for (int period = 0; period < 60; ++period) {
      h.advance(milliseconds(100));
      for (const OutExchange& x : h.m.take_exchanges()) {
        const auto* ping = std::get_if<Ping>(&x.request);  // (or a full sync)
        if (ping != nullptr) {
          EXPECT_EQ(x.to, ping->target);
        }
        if (ping != nullptr && tcp_answers && x.to == "t:1") {
          h.m.on_tcp_response(x.id, Ack{ping->seq, "t:1", 0, {}}, h.now);
          ++answered;
        } else {
          h.m.on_tcp_failure(x.id, h.now);
        }
      }
    }
    if (tcp_answers) {
      EXPECT_EQ(h.status_of("t:1"), Status::kAlive);
      EXPECT_GT(answered, 0u);
      EXPECT_EQ(h.m.stats().tcp_probe_acks, answered);
      EXPECT_EQ(h.m.stats().suspicions, 0u);
    } else {
      EXPECT_NE(h.status_of("t:1"), Status::kAlive);
      EXPECT_EQ(h.m.stats().tcp_probe_acks, 0u);
    }
    EXPECT_GT(h.m.stats().tcp_probes_sent, 0u);
  }
}

// An Ack over TCP counts only for the probe in progress, from its target;
// and an answer of another kind than the question fails the exchange (a
// join answered with an Ack still ends its round and is retried).
TEST(MembershipTest, TcpAnswersOfTheWrongKindOrProbeDoNotCount) {
  Harness h;
  h.m.join({"s:1"}, h.now);
  auto ex = h.m.take_exchanges();
  ASSERT_EQ(ex.size(), 1u);
  h.m.on_tcp_response(ex[0].id, Ack{1, "s:1", 0, {}}, h.now);
  EXPECT_FALSE(h.m.joined());
  EXPECT_EQ(h.m.stats().joins_failed, 1u);
  ex.clear();
  for (int i = 0; i < 100 && ex.empty(); ++i) {
    h.advance_to(h.m.next_deadline());
    ex = h.m.take_exchanges();
  }
  ASSERT_EQ(ex.size(), 1u) << "the join was not retried";
  EXPECT_EQ(ex[0].to, "s:1");
  // A TCP ping is answered with this node's Ack.
  auto answer = h.m.on_tcp_request("", Ping{42, "x:1", "self:1", 0, {}}, h.now);
  ASSERT_TRUE(std::holds_alternative<Ack>(answer));
  EXPECT_EQ(std::get<Ack>(answer).seq, 42u);
  EXPECT_EQ(std::get<Ack>(answer).source, "self:1");
}

TEST(MembershipTest, FailedProbesSuspectThenFaultyAtTheEdge) {
  Harness h;
  for (const char* a : {"t:1", "h1:1", "h2:1", "h3:1"}) h.learn(a);
  for (const char* a : {"h1:1", "h2:1", "h3:1"}) h.responsive.insert(a);
  h.nack_silent_targets = true;
  h.sent.clear();
  // Tick through periods until "t:1" is probed.
  Instant probe_start{};
  for (int i = 0; i < 8 && probe_start == Instant{}; ++i) {
    h.advance_to(h.m.next_deadline());
    for (const auto& [to, ping] : h.sent_of<Ping>()) {
      if (to == "t:1" && ping.target == "t:1") probe_start = h.now;
    }
    h.sent.clear();
  }
  ASSERT_NE(probe_start, Instant{});
  // Just before the ping timeout: no ping-req yet. At it: three helpers,
  // and one more direct ping.
  h.advance_to(probe_start + milliseconds(99));
  EXPECT_TRUE(h.sent_of<PingReq>().empty());
  h.advance_to(probe_start + milliseconds(100));
  auto reqs = h.sent_of<PingReq>();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& [to, r] : reqs) {
    EXPECT_NE(to, "t:1");
    EXPECT_EQ(r.target, "t:1");
    EXPECT_TRUE(r.want_nack);
  }
  EXPECT_EQ(h.sent_of<Ping>().size(), 1u);
  // First failed period (strike one): not suspect; the same member is
  // probed again at once.
  h.sent.clear();
  h.advance_to(probe_start + milliseconds(200));
  EXPECT_EQ(h.status_of("t:1"), Status::kAlive);
  ASSERT_EQ(h.sent_of<Ping>().size(), 1u);
  EXPECT_EQ(h.sent_of<Ping>()[0].first, "t:1");
  // Second failed period: suspect at its end, not a millisecond before.
  h.advance_to(probe_start + milliseconds(399));
  EXPECT_EQ(h.status_of("t:1"), Status::kAlive);
  h.advance_to(probe_start + milliseconds(400));
  EXPECT_EQ(h.status_of("t:1"), Status::kSuspect);
  EXPECT_EQ(h.m.health_score(), 0);
  const Instant suspected = h.now;
  // No confirmations from others: faulty after the 5 s maximum.
  h.advance_to(suspected + seconds(5) - milliseconds(1));
  EXPECT_EQ(h.status_of("t:1"), Status::kSuspect);
  h.advance_to(suspected + seconds(5));
  EXPECT_EQ(h.status_of("t:1"), Status::kFaulty);
  EXPECT_EQ(h.m.stats().faulty_declared, 1u);
}

// Missed nacks raise the health score, which stretches this node's own
// probe timing: an isolated node slows down instead of accusing everyone.
TEST(MembershipTest, MissedNacksStretchOwnTimeouts) {
  Harness h;
  for (const char* a : {"t:1", "h1:1", "h2:1", "h3:1"}) h.learn(a);
  // Nobody answers anything: every probe misses its nacks, the score
  // climbs to its maximum (awareness_max - 1 = 7).
  h.advance(seconds(30));
  ASSERT_EQ(h.m.health_score(), 7);
  // Periods are now 8 x 200 ms, and ping-reqs go out 8 x 100 ms into each.
  std::vector<Instant> ping_req_times;
  for (int guard = 0; guard < 1000 && ping_req_times.size() < 3; ++guard) {
    h.sent.clear();
    h.advance_to(h.m.next_deadline());
    if (!h.sent_of<PingReq>().empty()) ping_req_times.push_back(h.now);
  }
  ASSERT_EQ(ping_req_times.size(), 3u);
  EXPECT_EQ(ping_req_times[1] - ping_req_times[0], milliseconds(1600));
  EXPECT_EQ(ping_req_times[2] - ping_req_times[1], milliseconds(1600));
}

TEST(MembershipTest, LateTimersRaiseTheHealthScore) {
  Harness h;
  for (const char* a : {"t:1", "h1:1"}) {
    h.learn(a);
    h.responsive.insert(a);
  }
  h.advance(seconds(5));
  ASSERT_EQ(h.m.health_score(), 0);
  EXPECT_EQ(h.m.stats().late_ticks, 0u);
  // Starved of CPU: the process runs again 300 ms after its timer was due.
  h.now = h.m.next_deadline() + milliseconds(300);
  h.m.tick(h.now);
  h.drain();
  EXPECT_EQ(h.m.stats().late_ticks, 1u);
  EXPECT_EQ(h.m.health_score(), 6);  // one point per 50 ms late
  // Within the tolerance (50 ms) is not starvation; acks lower the score
  // one point per period (periods are 7 x 200 ms at score 6).
  h.now = h.m.next_deadline() + milliseconds(40);
  h.m.tick(h.now);
  h.drain();
  h.advance(seconds(10));
  EXPECT_EQ(h.m.stats().late_ticks, 1u);
  EXPECT_EQ(h.m.health_score(), 0);
}

TEST(MembershipTest, ConfirmationsShortenTheSuspicion) {
  Harness h;
  // Enough members that K = 3 confirmations can come.
  for (const char* a : {"t:1", "a:1", "b:1", "c:1"}) {
    h.learn(a);
    h.responsive.insert(a);  // our own probes succeed: health stays 0
  }
  // Someone else suspects t:1 (incarnation 1): our timer starts at max.
  h.receive(Gossip{"a:1", 0, {Change{"t:1", Status::kSuspect, 1, {}, "a:1", 0}}});
  const Instant start = h.now;
  // Two more independent suspecters: C = 2 -> 1830 ms.
  h.receive(Gossip{"b:1", 0, {Change{"t:1", Status::kSuspect, 1, {}, "b:1", 0}}});
  h.receive(Gossip{"c:1", 0, {Change{"t:1", Status::kSuspect, 1, {}, "c:1", 0}}});
  // A repeated suspecter is not a new confirmation.
  h.receive(Gossip{"c:1", 0, {Change{"t:1", Status::kSuspect, 1, {}, "c:1", 0}}});
  EXPECT_EQ(h.m.stats().confirmations, 2u);
  h.advance_to(start + milliseconds(1829));
  EXPECT_EQ(h.status_of("t:1"), Status::kSuspect);
  h.advance_to(start + milliseconds(1830));
  EXPECT_EQ(h.status_of("t:1"), Status::kFaulty);
}

// A refutation takes longer to reach everyone in a big cluster: past 100
// members both timeouts grow with log10(N) / 2 (x1.5 at 1000).
TEST(MembershipTest, SuspicionTimeoutsGrowWithClusterSizePast100) {
  for (const int n : {100, 1000}) {
    Harness h;
    for (int i = 1; i < n; ++i) {  // self + n - 1 others, all answering
      const std::string a = numbered("m", i, ":1");
      h.learn(a);
      h.responsive.insert(a);
    }
    ASSERT_EQ(h.m.pingable_count(), static_cast<size_t>(n));
    h.responsive.erase("m1:1");
    h.nack_silent_targets = true;  // helpers are healthy: our score stays 0
    h.receive(Gossip{"m2:1", 0, {Change{"m1:1", Status::kSuspect, 1, {}, "m2:1", 0}}});
    const Instant start = h.now;
    for (const char* c : {"m3:1", "m4:1", "m5:1"}) {  // C = K = 3: the minimum
      h.receive(Gossip{c, 0, {Change{"m1:1", Status::kSuspect, 1, {}, c, 0}}});
    }
    const Duration want = n == 100 ? milliseconds(1000) : milliseconds(1500);
    h.advance_to(start + want - milliseconds(1));
    EXPECT_EQ(h.status_of("m1:1"), Status::kSuspect) << n;
    h.advance_to(start + want);
    EXPECT_EQ(h.status_of("m1:1"), Status::kFaulty) << n;
    EXPECT_EQ(h.m.health_score(), 0) << n;
  }
}

// In a cluster of three only one member can confirm a suspicion, so
// expecting three would keep every suspicion at the maximum.
TEST(MembershipTest, SmallClusterExpectsOnlyPossibleConfirmations) {
  Harness h;
  h.learn("t:1");
  h.learn("a:1");
  h.responsive.insert("t:1");
  h.responsive.insert("a:1");
  h.receive(Gossip{"a:1", 0, {Change{"t:1", Status::kSuspect, 1, {}, "a:1", 0}}});
  const Instant start = h.now;
  // K = min(3, 3 - 2) = 1, no confirmation yet: the maximum, 5 s.
  h.advance_to(start + seconds(5) - milliseconds(1));
  EXPECT_EQ(h.status_of("t:1"), Status::kSuspect);
  h.advance_to(start + seconds(5));
  EXPECT_EQ(h.status_of("t:1"), Status::kFaulty);

  Harness g;
  g.learn("t:1");
  g.learn("a:1");
  g.responsive.insert("a:1");
  g.nack_silent_targets = true;  // a:1 is a healthy helper
  g.receive(Gossip{"a:1", 0, {Change{"t:1", Status::kSuspect, 1, {}, "a:1", 0}}});
  // Our own (confirming) suspicion after two failed probes of t:1 brings it
  // to the 1 s minimum from the first suspicion.
  g.advance(seconds(2));
  EXPECT_EQ(g.status_of("t:1"), Status::kFaulty);
  EXPECT_GE(g.m.stats().confirmations, 1u);
  EXPECT_EQ(g.m.health_score(), 0);
}

TEST(MembershipTest, RefutesSuspicionAboutItselfWithHigherIncarnation) {
  Harness h;
  h.learn("a:1");
  h.receive(Gossip{"a:1", 0, {Change{"self:1", Status::kSuspect, 100, {}, "a:1", 0}}});
  EXPECT_EQ(h.m.incarnation(), 101u);
  EXPECT_EQ(h.m.stats().refutations, 1u);
  // A claim from the future (a former self that ran ahead) also refutes.
  h.receive(Gossip{"a:1", 0, {Change{"self:1", Status::kAlive, 500, {}, "a:1", 0}}});
  EXPECT_EQ(h.m.incarnation(), 501u);
  // Old news is ignored.
  h.receive(Gossip{"a:1", 0, {Change{"self:1", Status::kAlive, 400, {}, "a:1", 0}}});
  EXPECT_EQ(h.m.incarnation(), 501u);
  // The refutation is the first change in the next message we send.
  h.sent.clear();
  h.advance_to(h.m.next_deadline());
  ASSERT_FALSE(h.sent.empty());
  const auto& changes = std::get<Ping>(h.sent.front().message).changes;
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.front().name, "self:1");
  EXPECT_EQ(changes.front().incarnation, 501u);
  EXPECT_EQ(changes.front().status, Status::kAlive);
}

// ---- incarnations never wrap: claims beyond the clock are rejected ----

// The horizon of a node started at incarnation 100: 100 + ms since start +
// 24 h, and 1 h more for a member's own alive claims.
constexpr Incarnation kDayMs = 24ull * 3600 * 1000;
constexpr Incarnation kHourMs = 3600ull * 1000;

TEST(MembershipTest, ForgedSuspicionAtTheTopIncarnationChangesNothing) {
  Harness h;
  h.learn("a:1", 5);
  const auto before = h.m.checksum();
  // The attack: three copies of "a:1 suspect at 2^64-1".
  for (int i = 0; i < 3; ++i) {
    h.receive(Gossip{"b:1", 0, {Change{"a:1", Status::kSuspect, UINT64_MAX, {}, "b:1", 0}}});
  }
  EXPECT_EQ(h.status_of("a:1"), Status::kAlive);
  EXPECT_EQ(h.m.member("a:1")->incarnation, 5u);
  EXPECT_EQ(h.m.checksum(), before);
  EXPECT_EQ(h.m.stats().changes_rejected, 3u);
  EXPECT_EQ(h.m.pending_changes(), 2u);  // self and a:1, nothing forged
  // Sent to the member itself: no refutation that would wrap to 0.
  h.receive(Gossip{"b:1", 0, {Change{"self:1", Status::kSuspect, UINT64_MAX, {}, "b:1", 0}}});
  EXPECT_EQ(h.m.incarnation(), 100u);
  EXPECT_EQ(h.m.stats().refutations, 0u);
  EXPECT_EQ(h.m.stats().changes_rejected, 4u);
}

TEST(MembershipTest, IncarnationHorizonEdgeForOthersClaims) {
  Harness h;  // started at incarnation 100, now = 0
  h.learn("a:1", 5);
  h.advance(seconds(10));  // the horizon moves with the clock: +10,000
  const Incarnation edge = 100 + 10000 + kDayMs;
  h.receive(Gossip{"b:1", 0, {Change{"a:1", Status::kSuspect, edge + 1, {}, "b:1", 0}}});
  EXPECT_EQ(h.m.member("a:1")->incarnation, 5u);
  EXPECT_EQ(h.m.stats().changes_rejected, 1u);
  h.receive(Gossip{"b:1", 0, {Change{"a:1", Status::kSuspect, edge, {}, "b:1", 0}}});
  EXPECT_EQ(h.status_of("a:1"), Status::kSuspect);
  EXPECT_EQ(h.m.member("a:1")->incarnation, edge);
  // The member's refutation, one above what this node accepted, is taken.
  h.receive(Gossip{"a:1", 0, {Change{"a:1", Status::kAlive, edge + 1, {}, "a:1", edge + 1}}});
  EXPECT_EQ(h.status_of("a:1"), Status::kAlive);
  EXPECT_EQ(h.m.member("a:1")->incarnation, edge + 1);
  // At the same incarnation (no raise) claims are judged by status alone.
  h.receive(Gossip{"b:1", 0, {Change{"a:1", Status::kFaulty, edge + 1, {}, "b:1", 0}}});
  EXPECT_EQ(h.status_of("a:1"), Status::kFaulty);
}

TEST(MembershipTest, OwnAliveClaimsGetTheRefutationHeadroom) {
  Harness h;
  const Incarnation edge = 100 + kDayMs + kHourMs;
  // A member's own alive claim (a refutation, a restart) may go 1 h further.
  h.receive(Gossip{"a:1", 0, {Change{"a:1", Status::kAlive, edge + 1, {}, "a:1", 0}}});
  EXPECT_FALSE(h.m.member("a:1").has_value());
  h.receive(Gossip{"a:1", 0, {Change{"a:1", Status::kAlive, edge, {}, "a:1", 0}}});
  ASSERT_TRUE(h.m.member("a:1").has_value());
  EXPECT_EQ(h.m.member("a:1")->incarnation, edge);
  // Another member's claim gets no headroom.
  h.receive(Gossip{"b:1", 0, {Change{"c:1", Status::kAlive, 100 + kDayMs + 1, {}, "b:1", 0}}});
  EXPECT_FALSE(h.m.member("c:1").has_value());
  // Nor does a join with an absurd incarnation get in.
  h.m.on_tcp_request("j:1", JoinRequest{"j:1", UINT64_MAX, {}}, h.now);
  EXPECT_FALSE(h.m.member("j:1").has_value());
  EXPECT_EQ(h.m.stats().changes_rejected, 3u);
}

// A member refutes any claim about itself that an honest node could have
// accepted (up to the others' horizon), and its refutation is accepted.
TEST(MembershipTest, RefutationOutbidsAClaimAtTheHorizon) {
  Harness self("self:1", 100);
  const Incarnation edge = 100 + kDayMs;
  self.receive(Gossip{"b:1", 0, {Change{"self:1", Status::kSuspect, edge, {}, "b:1", 0}}});
  EXPECT_EQ(self.m.incarnation(), edge + 1);
  // Beyond even the headroom: ignored, no refutation.
  self.receive(
      Gossip{"b:1", 0, {Change{"self:1", Status::kSuspect, edge + kHourMs + 2, {}, "b:1", 0}}});
  EXPECT_EQ(self.m.incarnation(), edge + 1);
  EXPECT_EQ(self.m.stats().refutations, 1u);
}

// A member restarted after a month of uptime jumps by a month of
// milliseconds: an honest jump, accepted.
TEST(MembershipTest, RestartAfterLongUptimeIsAccepted) {
  const Incarnation now_ms = 1'800'000'000'000ull;
  Harness h("self:1", now_ms);
  h.learn("a:1", now_ms - 30 * kDayMs);
  h.receive(Gossip{"a:1", 0, {Change{"a:1", Status::kAlive, now_ms + 5, {}, "a:1", 0}}});
  EXPECT_EQ(h.m.member("a:1")->incarnation, now_ms + 5);
  EXPECT_EQ(h.m.stats().changes_rejected, 0u);
}

TEST(MembershipTest, StaleClaimsAreIgnoredAndNotRegossiped) {
  Harness h;
  h.learn("a:1", 5);
  h.learn("a:1", 5, Status::kFaulty);
  const size_t events = h.events.size();
  h.learn("a:1", 4);                   // older incarnation
  h.learn("a:1", 5);                   // alive at equal incarnation: loses to faulty
  h.learn("a:1", 5, Status::kFaulty);  // duplicate
  EXPECT_EQ(h.events.size(), events);
  EXPECT_EQ(h.status_of("a:1"), Status::kFaulty);
  EXPECT_EQ(h.m.stats().changes_stale, 3u);
  h.learn("a:1", 6);  // a newer incarnation revives it
  EXPECT_EQ(h.status_of("a:1"), Status::kAlive);
}

TEST(MembershipTest, MessagesClaimingToBeFromUsAreDropped) {
  Harness h;
  h.receive(Gossip{"self:1", 0, {Change{"x:1", Status::kAlive, 1, {}, "self:1", 0}}});
  EXPECT_EQ(h.m.stats().messages_from_self, 1u);
  EXPECT_FALSE(h.m.member("x:1").has_value());
}

TEST(MembershipTest, OversizedChangeListIsCutAtTheBound) {
  Harness h;
  Gossip g{"a:1", 0, {}};
  for (int i = 0; i < 100; ++i) {
    g.changes.push_back(Change{numbered("m", i, ":1"), Status::kAlive, 1, {}, "a:1", 0});
  }
  h.receive(g);
  EXPECT_EQ(h.m.members().size(), 1u + 64u);
  EXPECT_EQ(h.m.stats().changes_dropped, 36u);
}

// Forged claims about strangers: faulty/suspect/leave claims about members
// never seen alive create at most kHearsayMax entries; alive members are
// still learned, and a stranger later seen alive stops being hearsay.
TEST(MembershipTest, ClaimsAboutStrangersAreBoundedApart) {
  Harness h;
  const int n = static_cast<int>(Membership::kHearsayMax) + 1000;
  for (int i = 0; i < n; i += 50) {
    if (i % 1000 == 0) h.now += std::chrono::seconds(1);  // within a:1's introductions
    Gossip g{"a:1", 0, {}};
    for (int j = i; j < std::min(n, i + 50); ++j) {
      g.changes.push_back(Change{
          numbered("ghost", j, ":1"), j % 2 ? Status::kFaulty : Status::kSuspect, 1, {}, "a:1", 0});
    }
    h.receive(g);
  }
  EXPECT_EQ(h.m.members().size(), 1u + Membership::kHearsayMax);
  EXPECT_EQ(h.m.stats().hearsay_dropped, 1000u);
  h.learn("real:1", 1);  // alive claims still get in
  EXPECT_EQ(h.status_of("real:1"), Status::kAlive);
  h.learn(numbered("ghost", 0, ":1"), 2);  // seen alive: no longer hearsay
  h.receive(Gossip{"a:1", 0, {Change{"late:1", Status::kFaulty, 1, {}, "a:1", 0}}});
  EXPECT_EQ(h.m.member("late:1")->status, Status::kFaulty);
  EXPECT_EQ(h.m.stats().hearsay_dropped, 1000u);
}

// A full table (forged alive members, some since found faulty): a joiner's
// own claim evicts a non-alive entry and gets in.
TEST(MembershipTest, ARealJoinerGetsIntoAFullTable) {
  Harness h;
  const int n = static_cast<int>(Membership::kMembersMax);
  for (int i = 0; i < n; i += 64) {
    if (i % 1024 == 0) h.now += std::chrono::seconds(1);  // within a:1's introductions
    Gossip g{"a:1", 0, {}};
    for (int j = i; j < std::min(n, i + 64); ++j) {
      g.changes.push_back(Change{numbered("fake", j, ":1"), Status::kAlive, 1, {}, "a:1", 0});
    }
    h.receive(g);
  }
  ASSERT_EQ(h.m.members().size(), Membership::kMembersMax);
  h.learn("newbie:1", 1);  // third-party claims about newcomers wait
  EXPECT_FALSE(h.m.member("newbie:1").has_value());
  // Nothing can be evicted while everyone is alive: the joiner waits too.
  h.m.on_tcp_request("x", JoinRequest{"joiner:1", 7, {}}, h.now);
  EXPECT_FALSE(h.m.member("joiner:1").has_value());
  h.learn(numbered("fake", 5, ":1"), 1, Status::kFaulty);
  h.m.on_tcp_request("x", JoinRequest{"joiner:1", 7, {}}, h.now);
  EXPECT_EQ(h.status_of("joiner:1"), Status::kAlive);
  EXPECT_FALSE(h.m.member(numbered("fake", 5, ":1")).has_value());
  EXPECT_EQ(h.m.stats().members_evicted, 1u);
  EXPECT_EQ(h.m.members().size(), Membership::kMembersMax);
}

// One datagram sender introduces at most kNewPerSenderPerSecond strangers
// a second; another sender, a later second, or a member speaking for
// itself are not held back.
TEST(MembershipTest, IntroductionsPerSenderAreBounded) {
  Harness h;
  const int n = static_cast<int>(Membership::kNewPerSenderPerSecond) + 100;
  for (int i = 0; i < n; i += 50) {
    Gossip g{"a:1", 0, {}};
    for (int j = i; j < std::min(n, i + 50); ++j) {
      g.changes.push_back(Change{numbered("new", j, ":1"), Status::kAlive, 1, {}, "a:1", 0});
    }
    h.receive(g, "10.0.0.9:1");
  }
  EXPECT_EQ(h.m.members().size(), 1u + Membership::kNewPerSenderPerSecond);
  EXPECT_EQ(h.m.stats().introductions_throttled, 100u);
  // A member's own claim, from its own address, is no introduction.
  h.receive(Gossip{"10.0.0.9:1", 0, {Change{"10.0.0.9:1", Status::kAlive, 1, {}, "10.0.0.9:1", 0}}},
            "10.0.0.9:1");
  EXPECT_EQ(h.status_of("10.0.0.9:1"), Status::kAlive);
  // Another sender is not held back; nor is the first one a second later.
  h.receive(Gossip{"b:1", 0, {Change{"x:1", Status::kAlive, 1, {}, "b:1", 0}}}, "10.0.0.8:1");
  EXPECT_EQ(h.status_of("x:1"), Status::kAlive);
  h.now += std::chrono::seconds(1);
  h.receive(Gossip{"a:1", 0, {Change{"y:1", Status::kAlive, 1, {}, "a:1", 0}}}, "10.0.0.9:1");
  EXPECT_EQ(h.status_of("y:1"), Status::kAlive);
  EXPECT_EQ(h.m.stats().introductions_throttled, 100u);
}

TEST(MembershipTest, PingReqForOurselvesIsAnsweredDirectly) {
  Harness h;
  h.receive(PingReq{9, "a:1", "self:1", 0, true, {}});
  auto acks = h.sent_of<Ack>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].first, "a:1");
  EXPECT_EQ(acks[0].second.seq, 9u);
  EXPECT_TRUE(h.sent_of<Ping>().empty());
}

// Answers go where the datagram came from, not to whatever it claims as
// its source: a forged source cannot point acks at a third party.
TEST(MembershipTest, AnswersGoToTheTransportAddress) {
  Harness h;
  h.receive(Ping{3, "victim:1", "self:1", 0, {}}, "attacker:9");
  auto acks = h.sent_of<Ack>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].first, "attacker:9");
  h.sent.clear();
  h.receive(PingReq{4, "victim:1", "self:1", 0, true, {}}, "attacker:9");
  ASSERT_EQ(h.sent_of<Ack>().size(), 1u);
  EXPECT_EQ(h.sent_of<Ack>()[0].first, "attacker:9");
}

// A ping-req for an address this node does not probe itself is ignored:
// strangers cannot make it ping whatever they name.
TEST(MembershipTest, PingReqOnlyForKnownMembers) {
  Harness h;
  h.receive(PingReq{5, "a:1", "elsewhere:1", 0, true, {}}, "a:1");
  EXPECT_TRUE(h.sent_of<Ping>().empty());
  EXPECT_EQ(h.m.stats().ping_reqs_ignored, 1u);
  h.learn("gone:1", 1, Status::kFaulty);
  h.receive(PingReq{6, "a:1", "gone:1", 0, true, {}}, "a:1");
  EXPECT_TRUE(h.sent_of<Ping>().empty());
  EXPECT_EQ(h.m.stats().ping_reqs_ignored, 2u);
  h.learn("b:1");
  h.receive(PingReq{7, "a:1", "b:1", 0, true, {}}, "a:1");
  EXPECT_EQ(h.sent_of<Ping>().size(), 1u);
  // Each ignored one was nacked at once, to where it came from, with no
  // claims on it: it says only that this helper is reachable.
  const auto nacks = h.sent_of<Nack>();
  ASSERT_EQ(nacks.size(), 2u);
  EXPECT_EQ(nacks[0].first, "a:1");
  EXPECT_EQ(nacks[0].second.seq, 5u);
  EXPECT_TRUE(nacks[0].second.changes.empty());
  EXPECT_EQ(nacks[1].second.seq, 6u);
}

// Members heard from directly (a datagram from their own address) lead the
// piggyback queue and take every other probe, however many members others
// told this node about.
TEST(MembershipTest, HeardMembersComeFirst) {
  Harness h;
  for (int i = 0; i < 60; ++i) h.learn(numbered("invented-", i, ":1"));
  h.learn("real:1");
  EXPECT_EQ(h.m.heard_peer_count(), 0u);
  h.receive(Ping{1, "real:1", "self:1", 0, {Change{"real:1", Status::kAlive, 2, {}, "real:1", 2}}},
            "real:1");
  EXPECT_EQ(h.m.heard_peer_count(), 1u);
  // A ping from an address that is not the member's own proves nothing.
  h.receive(Ping{2, "invented-1:1", "self:1", 0, {}}, "elsewhere:9");
  EXPECT_EQ(h.m.heard_peer_count(), 1u);
  h.sent.clear();
  h.receive(Ping{3, "x:1", "self:1", 0, {}}, "x:1");
  const auto acks = h.sent_of<Ack>();
  ASSERT_EQ(acks.size(), 1u);
  ASSERT_FALSE(acks[0].second.changes.empty());
  EXPECT_EQ(acks[0].second.changes.front().name, "real:1");

  // Probes: real:1 answers; the invented stay silent, and so does every
  // helper asked about them (a silent one is probed twice, two strikes).
  h.responsive = {"real:1"};
  h.sent.clear();
  h.advance(seconds(30));
  size_t to_real = 0;
  std::set<std::string> invented_probed;
  for (const auto& [to, ping] : h.sent_of<Ping>()) {
    if (ping.target == "real:1") ++to_real;
    if (ping.target.starts_with("invented-")) invented_probed.insert(ping.target);
  }
  EXPECT_GE(invented_probed.size(), 3u);
  EXPECT_GE(to_real + 1, invented_probed.size()) << "one of 61 members, probed every other turn";
}

TEST(MembershipTest, MisdirectedPingIsNotAcked) {
  Harness h;
  h.receive(Ping{3, "a:1", "someone-else:1", 0, {}});
  EXPECT_TRUE(h.sent_of<Ack>().empty());
  EXPECT_EQ(h.m.stats().pings_misdirected, 1u);
  h.receive(Ping{4, "a:1", "self:1", 0, {}});
  ASSERT_EQ(h.sent_of<Ack>().size(), 1u);
  EXPECT_EQ(h.sent_of<Ack>()[0].second.seq, 4u);
}

TEST(MembershipTest, UnexpectedAckFromUnknownMemberIsCounted) {
  Harness h;
  h.receive(Ack{12345, "stranger:1", 0, {}});
  EXPECT_EQ(h.m.stats().acks_unexpected, 1u);
  EXPECT_FALSE(h.m.member("stranger:1").has_value());
}

TEST(MembershipTest, RelaysAckOrNacksForPingReq) {
  Harness h;
  h.learn("target:1");
  h.learn("silent:1");
  h.sent.clear();
  h.receive(PingReq{77, "req:1", "target:1", 0, true, {}});
  auto pings = h.sent_of<Ping>();
  ASSERT_EQ(pings.size(), 1u);
  EXPECT_EQ(pings[0].first, "target:1");
  h.sent.clear();
  // Only the target's own ack is relayed.
  h.receive(Ack{pings[0].second.seq, "forger:1", 0, {}});
  EXPECT_TRUE(h.sent_of<Ack>().empty());
  h.receive(Ack{pings[0].second.seq, "target:1", 0, {}});
  auto acks = h.sent_of<Ack>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].first, "req:1");
  EXPECT_EQ(acks[0].second.seq, 77u);
  EXPECT_EQ(acks[0].second.source, "target:1");

  // A silent target: a nack at 80% of the ping timeout, not before, so it
  // reaches the requester before its period ends.
  h.sent.clear();
  const Instant t0 = h.now;
  h.receive(PingReq{78, "req:1", "silent:1", 0, true, {}});
  h.advance_to(t0 + milliseconds(79));
  EXPECT_TRUE(h.sent_of<Nack>().empty());
  h.advance_to(t0 + milliseconds(80));
  ASSERT_EQ(h.sent_of<Nack>().size(), 1u);
  EXPECT_EQ(h.sent_of<Nack>()[0].second.seq, 78u);
}

TEST(MembershipTest, FullSyncNeverRevivesTheDead) {
  Harness h;
  h.learn("a:1", 5, Status::kFaulty);
  h.learn("b:1", 5, Status::kAlive);
  auto resp = h.m.on_tcp_request(
      "x",
      SyncRequest{"peer:1",
                  0,
                  {{"a:1", Status::kAlive, 5, {}},        // equal incarnation: stays dead
                   {"b:1", Status::kSuspect, 5, {}},      // newer status: taken
                   {"c:1", Status::kTombstone, 1, {}}}},  // unknown tombstone: ignored
      h.now);
  EXPECT_EQ(h.status_of("a:1"), Status::kFaulty);
  EXPECT_EQ(h.status_of("b:1"), Status::kSuspect);
  EXPECT_FALSE(h.m.member("c:1").has_value());
  EXPECT_EQ(std::get<SyncResponse>(resp).members.size(), h.m.members().size());
}

TEST(MembershipTest, FaultyBecomesTombstoneThenIsForgotten) {
  Harness h;
  h.learn("a:1", 5, Status::kFaulty);
  const Instant t0 = h.now;
  h.advance_to(t0 + seconds(60) - milliseconds(1));
  EXPECT_EQ(h.status_of("a:1"), Status::kFaulty);
  h.advance_to(t0 + seconds(60));
  EXPECT_EQ(h.status_of("a:1"), Status::kTombstone);
  h.advance_to(t0 + seconds(120) - milliseconds(1));
  EXPECT_TRUE(h.m.member("a:1").has_value());
  h.advance_to(t0 + seconds(120));
  EXPECT_FALSE(h.m.member("a:1").has_value());
  EXPECT_TRUE(h.events.back().forgotten);
}

TEST(MembershipTest, LeaveIsGossipedAndNoLongerProbes) {
  Harness h;
  h.learn("a:1");
  h.learn("b:1");
  h.m.leave(h.now);
  EXPECT_EQ(h.m.member("self:1")->status, Status::kLeave);
  EXPECT_FALSE(h.m.leave_disseminated());
  h.sent.clear();
  h.advance(seconds(5));
  EXPECT_TRUE(h.sent_of<Ping>().empty());
  ASSERT_FALSE(h.sent_of<Gossip>().empty());
  EXPECT_EQ(h.sent_of<Gossip>()[0].second.changes.front().status, Status::kLeave);
  EXPECT_TRUE(h.m.leave_disseminated());
}

TEST(MembershipTest, ChecksumIsOrderIndependent) {
  Harness a("self:1", 1), b("self:1", 1);
  a.learn("x:1", 3);
  a.learn("y:1", 4, Status::kSuspect);
  b.learn("y:1", 4, Status::kSuspect);
  b.learn("x:1", 3);
  EXPECT_EQ(a.m.checksum(), b.m.checksum());
  b.learn("x:1", 3, Status::kFaulty);
  EXPECT_NE(a.m.checksum(), b.m.checksum());
}

TEST(MembershipTest, EveryDatagramFitsTheBudget) {
  Harness h;
  for (int i = 0; i < 400; ++i) {
    Labels labels{{"zone", numbered("zone-", i % 7, "")}, {"role", "storage"}};
    Gossip g{"a:1",
             0,
             {Change{numbered("member-with-a-long-name-", i, ".example.internal:7000"),
                     Status::kAlive, 1, labels, "a:1", 0}}};
    h.receive(g);
  }
  h.advance(seconds(3));
  ASSERT_FALSE(h.sent.empty());
  size_t with_changes = 0;
  for (const auto& d : h.sent) {
    EXPECT_LE(encoded_envelope_size(d.message, h.m.config().cluster.size()), 1400u);
    with_changes += changes_of(d.message).size() > 3;
  }
  EXPECT_GT(with_changes, 0u);
}

// memberlist's AliveDelegate: a member the admission check refuses is
// never added, from gossip or a join; the others are, and the refusal is
// counted.
TEST(MembershipTest, AdmissionVetoKeepsAMemberOut) {
  Harness h("self:1", 100);
  h.m.set_admission([](const MemberState& s) -> std::string {
    auto it = s.labels.find("version");
    return it != s.labels.end() && it->second == "2" ? "" : "wrong version";
  });
  Gossip g{"a:1", 0, {}};
  g.changes.push_back({"a:1", Status::kAlive, 1, {{"version", "2"}}, "a:1", 0});
  g.changes.push_back({"b:1", Status::kAlive, 1, {{"version", "1"}}, "b:1", 0});
  h.receive(g);
  EXPECT_TRUE(h.m.member("a:1"));
  EXPECT_FALSE(h.m.member("b:1"));
  EXPECT_EQ(h.m.stats().members_vetoed, 1u);
  // Its own join: answered, but it stays out, and is not gossiped.
  (void)h.m.on_tcp_request("b:1", JoinRequest{"b:1", 2, {{"version", "1"}}}, h.now);
  EXPECT_FALSE(h.m.member("b:1"));
  EXPECT_EQ(h.m.stats().members_vetoed, 2u);
  h.advance(std::chrono::seconds(2));
  for (const auto& d : h.sent) {
    for (const Change& c : changes_of(d.message)) EXPECT_NE(c.name, "b:1");
    EXPECT_NE(d.to, "b:1");
  }
}

// memberlist's LocalState / MergeRemoteState: the app's state goes with
// joins and syncs both ways and is merged with the join flag; one over
// kAppStateMax is neither sent nor merged. A periodic push-pull starts a
// sync with a member every push_pull_interval.
TEST(MembershipTest, AppStateRidesJoinsAndSyncsAndPushPullIsPeriodic) {
  Harness h("self:1", 100);
  std::vector<std::pair<std::string, bool>> merged;
  std::string mine = "state-of-self";
  h.m.set_app_state({[&](bool) { return mine; },
                     [&](const std::string& s, bool join) { merged.emplace_back(s, join); }});
  auto join = h.m.on_tcp_request("a:1", JoinRequest{"a:1", 1, {}, "", "state-of-a"}, h.now);
  EXPECT_EQ(std::get<JoinResponse>(join).app_state, "state-of-self");
  auto sync = h.m.on_tcp_request("a:1", SyncRequest{"a:1", 0, {}, "a-again"}, h.now);
  EXPECT_EQ(std::get<SyncResponse>(sync).app_state, "state-of-self");
  EXPECT_EQ(merged,
            (std::vector<std::pair<std::string, bool>>{{"state-of-a", true}, {"a-again", false}}));
  // Too big: not merged, not sent.
  (void)h.m.on_tcp_request("a:1", SyncRequest{"a:1", 0, {}, std::string(70000, 'x')}, h.now);
  EXPECT_EQ(merged.size(), 2u);
  mine = std::string(Membership::kAppStateMax + 1, 'y');
  auto big = h.m.on_tcp_request("a:1", SyncRequest{"a:1", 0, {}, ""}, h.now);
  EXPECT_EQ(std::get<SyncResponse>(big).app_state, "");
  EXPECT_EQ(h.m.stats().app_state_refused, 2u);

  // Periodic push-pull: within 30 s (its first, at a point that depends on
  // the name), then every 30 s; each a sync with the one other member.
  mine = "s";
  (void)h.m.take_exchanges();
  h.responsive.insert("a:1");
  h.acks_agree = true;
  int syncs = 0;
  for (int s = 0; s < 95; ++s) {
    h.advance(std::chrono::seconds(1));
    for (auto& x : h.m.take_exchanges()) {
      const auto* req = std::get_if<SyncRequest>(&x.request);
      if (req == nullptr) continue;
      ++syncs;
      EXPECT_EQ(x.to, "a:1");
      EXPECT_EQ(req->app_state, "s");
      h.m.on_tcp_response(x.id, SyncResponse{"a:1", 0, {}, "back"}, h.now);
    }
  }
  EXPECT_EQ(syncs, 3);
  EXPECT_EQ(h.m.stats().push_pulls, 3u);
  EXPECT_EQ(merged.back(), (std::pair<std::string, bool>{"back", false}));
}

// memberlist's ConflictDelegate: a live member's name claimed at another
// address by a newer claim, and this node's own name claimed elsewhere.
TEST(MembershipTest, NameConflictsAreReported) {
  Harness h("10.0.0.9:1", 100, 7, "me");
  std::vector<NameConflict> seen;
  h.m.set_conflict_callback([&](const NameConflict& c) { seen.push_back(c); });
  Gossip g{"10.0.0.1:1", 0, {}};
  g.changes.push_back({"node-a", Status::kAlive, 5, {}, "node-a", 0, "10.0.0.1:1"});
  h.receive(g);
  EXPECT_TRUE(seen.empty());  // new, no conflict
  g.changes = {{"node-a", Status::kAlive, 6, {}, "node-a", 0, "10.0.0.2:1"}};
  h.receive(g);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].name, "node-a");
  EXPECT_EQ(seen[0].known_address, "10.0.0.1:1");
  EXPECT_EQ(seen[0].other_address, "10.0.0.2:1");
  EXPECT_FALSE(seen[0].self);
  g.changes = {{"me", Status::kAlive, 200, {}, "me", 0, "10.0.0.3:1"}};
  h.receive(g);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[1].self);
  EXPECT_EQ(seen[1].other_address, "10.0.0.3:1");
}

TEST(MembershipTest, SameSeedSameInputsSameOutputs) {
  auto run = [](uint64_t seed) {
    Harness h("self:1", 100, seed);
    for (int i = 0; i < 20; ++i) h.learn(numbered("m", i, ":1"));
    h.advance(seconds(3));
    std::vector<std::string> targets;
    for (const auto& d : h.sent) targets.push_back(d.to);
    return targets;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

}  // namespace
}  // namespace shoal::membership
