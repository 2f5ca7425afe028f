// Copyright shoal authors. App gossip (membership/app_gossip.h): what each
// kind delivers, how often, and what it refuses.

#include "shoal/membership/app_gossip.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shoal::membership {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Instant kT0{};

struct Node {
  MembershipStats stats;
  AppGossip app;
  explicit Node(const std::string& name, AppGossip::Options o = {})
      : app(name, name, 7, 1200, stats, o) {}
  std::vector<AppMessage> sent(int limit = 100) {
    std::vector<AppMessage> out;
    app.fill(out, 1400, limit);
    return out;
  }
  std::vector<AppOutput> deliveries() {
    std::vector<AppOutput> out;
    for (auto& o : app.take_outputs()) {
      if (o.what == AppOutput::What::kDelivery) out.push_back(std::move(o));
    }
    return out;
  }
};

TEST(AppGossipTest, BroadcastIsDeliveredOnceAndTheNewestOfANameWins) {
  Node a("10.0.0.1:1"), b("10.0.0.2:1");
  ASSERT_EQ(a.app.broadcast("config", "v1"), "");
  const auto v1 = a.sent();
  ASSERT_EQ(a.app.broadcast("config", "v2"), "");
  // The queue holds only the newest of (origin, name).
  EXPECT_EQ(a.app.size(), 1u);
  const auto v2 = a.sent();
  ASSERT_EQ(v1.size(), 1u);
  ASSERT_EQ(v2.size(), 1u);
  EXPECT_EQ(v2[0].payload, "v2");
  EXPECT_TRUE(a.deliveries().empty());  // not to its origin

  b.app.receive(v2[0], {}, kT0);
  b.app.receive(v2[0], {}, kT0);  // again: a duplicate
  b.app.receive(v1[0], {}, kT0);  // older: superseded
  const auto got = b.deliveries();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message.payload, "v2");
  EXPECT_EQ(b.stats.app_delivered, 1u);
  EXPECT_EQ(b.stats.app_duplicates, 2u);
  // b passes on what it delivered, nothing else.
  const auto passed = b.sent();
  ASSERT_EQ(passed.size(), 1u);
  EXPECT_EQ(passed[0].payload, "v2");
}

TEST(AppGossipTest, ARestartedOriginsBroadcastsAreNewer) {
  MembershipStats s1, s2, sb;
  AppGossip before("10.0.0.1:1", "10.0.0.1:1", 100, 1200, s1, {});
  AppGossip after("10.0.0.1:1", "10.0.0.1:1", 200, 1200, s2, {});
  AppGossip b("10.0.0.2:1", "10.0.0.2:1", 5, 1200, sb, {});
  for (int i = 0; i < 3; ++i) ASSERT_EQ(before.broadcast("x", std::to_string(i)), "");
  std::vector<AppMessage> old, fresh;
  before.fill(old, 1400, 10);
  ASSERT_EQ(after.broadcast("x", "new"), "");  // seq 1 again, a higher epoch
  after.fill(fresh, 1400, 10);
  b.receive(old.at(0), {}, kT0);
  b.receive(fresh.at(0), {}, kT0);
  EXPECT_EQ(sb.app_delivered, 2u);
}

TEST(AppGossipTest, EachMessageIsSentAtMostLimitTimes) {
  Node a("10.0.0.1:1");
  ASSERT_EQ(a.app.broadcast("x", "p"), "");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a.sent(3).size(), 1u);
  EXPECT_TRUE(a.sent(3).empty());
  EXPECT_TRUE(a.app.empty());
}

TEST(AppGossipTest, AFullQueueDropsTheMessageSentMostAndCountsIt) {
  AppGossip::Options o;
  o.queue_max = 2;
  Node a("10.0.0.1:1", o);
  ASSERT_EQ(a.app.broadcast("one", "p"), "");
  a.sent();  // "one" sent once
  ASSERT_EQ(a.app.broadcast("two", "p"), "");
  ASSERT_EQ(a.app.broadcast("three", "p"), "");
  EXPECT_EQ(a.stats.app_queue_dropped, 1u);
  std::vector<std::string> names;
  for (const auto& m : a.sent()) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"three", "two"}));
}

TEST(AppGossipTest, TooBigOrBadlyNamedIsRefusedWithTheReason) {
  Node a("10.0.0.1:1");
  const std::string why = a.app.broadcast("x", std::string(5000, 'p'));
  EXPECT_NE(why.find("over the 1200"), std::string::npos) << why;
  EXPECT_NE(why.find("a payload of at most about"), std::string::npos) << why;
  EXPECT_NE(a.app.broadcast("", "p").find("name: empty"), std::string::npos);
  EXPECT_NE(a.app.event("with space", "p", false, kT0).find("only letters"), std::string::npos);
  EXPECT_NE(a.app.broadcast(std::string(200, 'n'), "p").find("over 128"), std::string::npos);
  EXPECT_TRUE(a.app.empty());
  EXPECT_EQ(a.stats.app_broadcasts_sent, 0u);
}

TEST(AppGossipTest, EventsAreDeliveredOnceIncludingToTheOriginAndOldOnesRefused) {
  AppGossip::Options o;
  o.buffer = 4;
  Node a("10.0.0.1:1", o), b("10.0.0.2:1", o);
  ASSERT_EQ(a.app.event("deploy", "1", false, kT0), "");
  EXPECT_EQ(a.deliveries().size(), 1u);
  const auto first = a.sent();
  b.app.receive(first.at(0), {}, kT0);
  b.app.receive(first.at(0), {}, kT0);
  EXPECT_EQ(b.deliveries().size(), 1u);
  EXPECT_EQ(b.stats.app_duplicates, 1u);
  // b's clock witnessed a's time: its own events come after.
  EXPECT_GT(b.app.event_clock(), first[0].seq);
  // Past the buffer: refused.
  for (int i = 0; i < 6; ++i) ASSERT_EQ(b.app.event("tick", std::to_string(i), false, kT0), "");
  AppMessage old = first[0];
  old.payload = "other";  // not a duplicate, only old
  b.app.receive(old, {}, kT0);
  EXPECT_EQ(b.stats.app_too_old, 1u);
}

TEST(AppGossipTest, CoalescingDeliversOnlyTheNewestOfABurst) {
  Node a("10.0.0.1:1"), b("10.0.0.2:1");
  std::vector<AppMessage> burst;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(a.app.event("deploy", std::to_string(i), true, kT0 + milliseconds(10 * i)), "");
  }
  a.app.fill(burst, 1400, 10);
  ASSERT_EQ(burst.size(), 5u);
  // Arriving newest first, then older ones.
  for (int i = 4; i >= 0; --i) b.app.receive(burst[static_cast<size_t>(i)], {}, kT0);
  EXPECT_TRUE(b.deliveries().empty());
  EXPECT_EQ(b.app.next_deadline(), kT0 + milliseconds(500));  // quiescent
  b.app.tick(kT0 + milliseconds(500));
  const auto got = b.deliveries();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message.payload, "4");
  EXPECT_EQ(b.stats.app_events_coalesced, 4u);
  a.app.tick(kT0 + seconds(3));
  EXPECT_EQ(a.deliveries().size(), 1u);
}

TEST(AppGossipTest, AQueryIsAnsweredOnceByMatchingMembersAndEndsAtItsTimeout) {
  Node asker("10.0.0.1:1"), db("10.0.0.2:1"), web("10.0.0.3:1");
  QuerySpec spec;
  spec.name = "ping";
  spec.labels = {{"role", "db"}};
  spec.want_ack = true;
  spec.timeout = seconds(2);
  ASSERT_EQ(asker.app.query(spec, {}, 42, kT0), "");
  EXPECT_TRUE(asker.deliveries().empty());  // the asker has no role=db
  const auto q = asker.sent();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].reply_to, "10.0.0.1:1");

  web.app.receive(q[0], {{"role", "web"}}, kT0);
  EXPECT_TRUE(web.deliveries().empty());
  EXPECT_TRUE(web.app.take_acks().empty());
  EXPECT_EQ(web.sent().size(), 1u);  // passed on all the same

  db.app.receive(q[0], {{"role", "db"}}, kT0);
  ASSERT_EQ(db.deliveries().size(), 1u);
  auto acks = db.app.take_acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].first, "10.0.0.1:1");
  std::string to;
  QueryAnswer answer;
  ASSERT_EQ(db.app.answer(42, "pong", 1400, 4, to, answer), "");
  EXPECT_EQ(to, "10.0.0.1:1");
  // Once only.
  EXPECT_NE(db.app.answer(42, "again", 1400, 4, to, answer), "");
  // Web never got it to answer.
  EXPECT_NE(web.app.answer(42, "x", 1400, 4, to, answer), "");

  asker.app.on_answer(acks[0].second);
  asker.app.on_answer(answer);
  asker.app.on_answer(answer);  // a repeat: dropped
  auto outs = asker.app.take_outputs();
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TRUE(outs[0].ack);
  EXPECT_EQ(outs[1].payload, "pong");
  EXPECT_EQ(asker.stats.app_duplicates, 1u);
  EXPECT_EQ(asker.app.next_deadline(), kT0 + seconds(2));
  asker.app.tick(kT0 + seconds(2));
  outs = asker.app.take_outputs();
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].what, AppOutput::What::kQueryEnd);
  asker.app.on_answer(answer);  // after the end
  EXPECT_TRUE(asker.app.take_outputs().empty());
  EXPECT_EQ(asker.stats.app_answers_late, 1u);
}

TEST(AppGossipTest, CheckNamesTheBadField) {
  AppMessage q;
  q.kind = AppKind::kQuery;
  q.origin = "10.0.0.1:1";
  q.name = "ok";
  EXPECT_NE(check_app_message(q).find("reply_to"), std::string::npos);
  q.reply_to = "10.0.0.1:1";
  EXPECT_EQ(check_app_message(q), "");
  q.filter_names = {""};
  EXPECT_EQ(check_app_message(q), "filter_names: empty");
  q.filter_names = {};
  q.origin = "";
  EXPECT_EQ(check_app_message(q), "origin: empty");
}

}  // namespace
}  // namespace shoal::membership
