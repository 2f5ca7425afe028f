// Directed requests (Forwarder::request, Node::request) and the replicator
// (replicator.h, Forwarder::replicate), in virtual time.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "shoal/node/replicator.h"
#include "shoal/node/ring_feed.h"
#include "tests/node/forwarder_harness.h"

namespace shoal::node {
namespace {

// Records the request the handler saw and answers "<replica>:<payload>".
struct Seen {
  std::vector<Request> requests;
  AsyncHandler handler() {
    return [this](Request r, Reply reply) {
      reply.ok(std::to_string(r.replica) + ":" + r.payload);
      requests.push_back(std::move(r));
    };
  }
};

void request(Harness& h, const std::string& member, Instant now, ForwardOptions o = {}) {
  h.fw.request(
      member, "", -1, "p", std::move(o), [&h](ForwardResult r) { h.results.push_back(r); }, now);
  h.run_jobs(now);
}

TEST(Directed, GoesToTheNamedMemberWhoeverOwnsTheKey) {
  Harness h;
  request(h, "b:1", at_ms(0));
  auto sends = h.fw.take_sends();
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].peer, "b:1");
  EXPECT_EQ(sends[0].request.to_member, "b:1");
  EXPECT_EQ(sends[0].request.key, "");
  EXPECT_EQ(sends[0].request.replica, 0u);
  h.fw.on_response("b:1", sends[0].id, h.ok_answer(), at_ms(1));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0].ok());
  EXPECT_EQ(h.fw.stats().requests_directed, 1u);
}

TEST(Directed, ToItselfRunsTheLocalHandlerMarkedDirected) {
  Harness h;
  Seen seen;
  h.async_handler = seen.handler();
  request(h, "a:1", at_ms(0));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0].ok());
  ASSERT_EQ(seen.requests.size(), 1u);
  EXPECT_TRUE(seen.requests[0].directed);
  EXPECT_TRUE(seen.requests[0].keys.empty());
  EXPECT_TRUE(h.fw.take_sends().empty());
}

TEST(Directed, ARefusedMemberEndsAtOnceInUnknownMember) {
  Harness h;
  h.fw.set_target_check([](std::string_view m) {
    return m == "gone:1" ? std::string("member gone:1 is faulty") : std::string();
  });
  request(h, "gone:1", at_ms(0));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].error, ForwardError::kUnknownMember);
  EXPECT_EQ(h.results[0].message, "member gone:1 is faulty");
  EXPECT_TRUE(h.fw.take_sends().empty());
  EXPECT_EQ(h.fw.stats().requests_unknown_member, 1u);
}

TEST(Directed, BadInputIsRefusedNamingWhatIsWrong) {
  Harness h;
  request(h, "", at_ms(0));
  request(h, std::string(300, 'm'), at_ms(0));
  ForwardOptions o;
  o.endpoint = "bad endpoint";
  request(h, "b:1", at_ms(0), o);
  ASSERT_EQ(h.results.size(), 3u);
  for (const ForwardResult& r : h.results) EXPECT_EQ(r.error, ForwardError::kBadRequest);
  EXPECT_NE(h.results[0].message.find("names no member"), std::string::npos);
  EXPECT_NE(h.results[1].message.find("member name of 300 bytes"), std::string::npos);
  EXPECT_TRUE(h.fw.take_sends().empty());
}

TEST(Directed, ALeavingMemberEndsTheCallWithoutRetries) {
  Harness h;
  request(h, "b:1", at_ms(0));
  auto sends = h.fw.take_sends();
  ASSERT_EQ(sends.size(), 1u);
  proto::ForwardResponse leaving{static_cast<uint32_t>(ForwardError::kShuttingDown), "leaving", "",
                                 "b:1"};
  h.fw.on_response("b:1", sends[0].id, leaving, at_ms(1));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].error, ForwardError::kShuttingDown);
  EXPECT_EQ(h.fw.calls_in_progress(), 0u);
}

TEST(Directed, ALostLinkIsRetriedToTheSameMember) {
  Harness h;
  request(h, "b:1", at_ms(0));
  auto sends = h.fw.take_sends();
  ASSERT_EQ(sends.size(), 1u);
  h.fw.on_link_failed("b:1", "reset", at_ms(1));
  h.run_until(at_ms(20));
  auto retry = h.fw.take_sends();
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].peer, "b:1");
  EXPECT_EQ(retry[0].request.request_id, sends[0].request.request_id);
  h.fw.on_response("b:1", retry[0].id, h.ok_answer(), at_ms(21));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0].ok());
}

// The receiver runs a directed request whoever owns its key, and only if
// it is the member named.
TEST(Directed, ServeRunsItWithoutOwnershipButOnlyOnTheMemberNamed) {
  Harness h;
  Seen seen;
  h.async_handler = seen.handler();
  const uint64_t checksum = h.ring.current()->checksum();
  proto::ForwardRequest q{h.remote_key, "x", checksum, "b:1", 1000, 7};
  q.to_member = "a:1";
  q.replica = 2;  // owner number 1
  auto r = h.serve(q, false, at_ms(0));
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.payload, "1:x");
  ASSERT_EQ(seen.requests.size(), 1u);
  EXPECT_TRUE(seen.requests[0].directed);
  EXPECT_EQ(seen.requests[0].key, h.remote_key);
  q.to_member = "c:1";
  q.request_id = 8;
  r = h.serve(q, false, at_ms(0));
  EXPECT_EQ(r.error, static_cast<uint32_t>(ForwardError::kUnknownMember));
  EXPECT_EQ(r.error_message, "a request for c:1 reached a:1");
  q.to_member = "a:1";
  q.replica = 1000;
  q.request_id = 9;
  r = h.serve(q, false, at_ms(0));
  EXPECT_EQ(r.error, static_cast<uint32_t>(ForwardError::kBadRequest));
  EXPECT_EQ(seen.requests.size(), 1u);
}

// ---- the replicator's state machine, with a scripted send ----

struct Script {
  std::map<std::string, ForwardResult> answers;                    // members that answer at once
  std::map<std::string, std::function<void(ForwardResult)>> held;  // the others
  std::vector<std::string> asked;
  ReplicaSend send() {
    return [this](const std::string& m, int, std::function<void(ForwardResult)> done) {
      asked.push_back(m);
      if (auto it = answers.find(m); it != answers.end()) return done(it->second);
      held[m] = std::move(done);
    };
  }
};

ForwardResult ok_result() { return ForwardResult{ForwardError::kOk, "", "v", "", 1}; }
ForwardResult failed(ForwardError e) { return ForwardResult{e, "why", "", "", 1}; }

TEST(Replicator, ParallelCompletesAtTheQuorumAndMarksTheRestPending) {
  Script s;
  s.answers = {{"a", ok_result()}, {"b", ok_result()}};
  std::vector<ReplicaResult> out;
  ReplicaOptions o;  // n 3, quorum 2, parallel
  replicate_over({"a", "b", "c"}, o, s.send(), [&](ReplicaResult r) { out.push_back(r); });
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].ok());
  EXPECT_EQ(out[0].ok_count, 2u);
  ASSERT_EQ(out[0].answers.size(), 3u);
  EXPECT_EQ(out[0].answers[2].member, "c");
  EXPECT_EQ(out[0].answers[2].replica, 2);
  EXPECT_EQ(out[0].answers[2].state, ReplicaAnswer::State::kPending);
  EXPECT_EQ(s.asked.size(), 3u);
  s.held.at("c")(ok_result());  // a late answer is dropped
  EXPECT_EQ(out.size(), 1u);
}

TEST(Replicator, FailsOnceTheQuorumCannotBeReachedNamingEachFailure) {
  Script s;
  std::vector<ReplicaResult> out;
  ReplicaOptions o;
  replicate_over({"a", "b", "c"}, o, s.send(), [&](ReplicaResult r) { out.push_back(r); });
  s.held.at("a")(failed(ForwardError::kTimeout));
  EXPECT_TRUE(out.empty());
  s.held.at("b")(failed(ForwardError::kCircuitOpen));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].ok());
  EXPECT_EQ(out[0].error, ForwardError::kTimeout);
  EXPECT_EQ(out[0].message,
            "0 of 3 owners answered ok, 2 needed: a: timeout (why); b: circuit_open (why)");
}

TEST(Replicator, SerialAsksOneAfterAnotherAndStopsAtTheQuorum) {
  Script s;
  s.answers = {{"a", failed(ForwardError::kOwnerUnreachable)},
               {"b", ok_result()},
               {"c", ok_result()},
               {"d", ok_result()}};
  std::vector<ReplicaResult> out;
  ReplicaOptions o;
  o.n = 4;
  o.quorum = 2;
  o.fan_out = FanOut::kSerial;
  replicate_over({"a", "b", "c", "d"}, o, s.send(), [&](ReplicaResult r) { out.push_back(r); });
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].ok());
  EXPECT_EQ(s.asked, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(out[0].answers[3].state, ReplicaAnswer::State::kNotAsked);
  EXPECT_EQ(out[0].answers[0].result.error, ForwardError::kOwnerUnreachable);
}

TEST(Replicator, WaitAllWaitsForEveryOwnerAsked) {
  Script s;
  s.answers = {{"a", ok_result()}, {"b", ok_result()}};
  std::vector<ReplicaResult> out;
  ReplicaOptions o;
  o.wait_all = true;
  replicate_over({"a", "b", "c"}, o, s.send(), [&](ReplicaResult r) { out.push_back(r); });
  EXPECT_TRUE(out.empty());
  s.held.at("c")(failed(ForwardError::kTimeout));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].ok());
  EXPECT_EQ(out[0].answers[2].state, ReplicaAnswer::State::kAnswered);
  EXPECT_EQ(out[0].answers[2].result.error, ForwardError::kTimeout);
}

TEST(Replicator, BadOptionsAreNamed) {
  ReplicaOptions o;
  o.n = 4;
  EXPECT_EQ(check_replica_options(o, 3), "replica count 4 is above the ring's 3 members");
  o.n = 0;
  EXPECT_EQ(check_replica_options(o, 3), "replica count 0 is outside 1..64");
  o.n = 3;
  o.quorum = 4;
  EXPECT_EQ(check_replica_options(o, 3), "quorum 4 is outside 1..3 (the replica count)");
  o.quorum = 0;
  EXPECT_NE(check_replica_options(o, 3), "");
  o.quorum = 3;
  EXPECT_EQ(check_replica_options(o, 3), "");
}

// Through the forwarder: the owners in ring order, each a directed request
// that tells its handler which owner it is.
TEST(Replicator, ForwarderSendsEachOwnerItsReplicaNumber) {
  Harness h({}, {"a:1", "b:1", "c:1"});
  Seen seen;
  h.async_handler = seen.handler();
  std::vector<ReplicaResult> out;
  ReplicaOptions o;
  o.n = 3;
  o.quorum = 3;
  h.fw.replicate(
      h.local_key, "w", o, [&](ReplicaResult r) { out.push_back(r); }, at_ms(0));
  h.run_jobs(at_ms(0));
  const auto owners = h.ring.current()->lookup_n(h.local_key, 3);
  auto sends = h.fw.take_sends();
  ASSERT_EQ(sends.size(), 2u);
  ASSERT_EQ(seen.requests.size(), 1u);
  const int mine = seen.requests[0].replica;
  EXPECT_EQ(owners[static_cast<size_t>(mine)], "a:1");
  for (const OutForward& f : sends) {
    EXPECT_EQ(f.request.key, h.local_key);
    ASSERT_GT(f.request.replica, 0u);
    EXPECT_EQ(owners[f.request.replica - 1], f.peer);
    h.fw.on_response(f.peer, f.id, h.ok_answer(), at_ms(1));
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].ok());
  EXPECT_EQ(out[0].ok_count, 3u);
  o.n = 4;
  h.fw.replicate(
      h.local_key, "w", o, [&](ReplicaResult r) { out.push_back(r); }, at_ms(2));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].error, ForwardError::kBadRequest);
  EXPECT_EQ(h.fw.stats().replications, 2u);
  EXPECT_EQ(h.fw.stats().replications_failed, 1u);
}

}  // namespace
}  // namespace shoal::node

// ---- ring weights from the weight label (events.h, ring_feed) ----

namespace shoal::node {
namespace {

membership::MemberEvent alive(const std::string& name, Labels labels) {
  membership::MemberEvent e;
  e.name = name;
  e.status = membership::Status::kAlive;
  e.labels = std::move(labels);
  return e;
}

TEST(RingWeights, TheWeightLabelScalesAMembersPoints) {
  RingFeed feed(100, "a:1", nullptr, true, label_weight({{"weight", "2"}}));
  feed.on_event(alive("b:1", {{"weight", "0.5"}}), at_ms(0));
  feed.on_event(alive("c:1", {{"weight", "11"}}), at_ms(0));  // out of range: 1.0
  feed.on_event(alive("d:1", {{"weight", "2x"}}), at_ms(0));  // not a number: 1.0
  auto change = feed.tick(at_ms(1000));
  ASSERT_TRUE(change.has_value());
  const ring::Ring& r = *change->after;
  EXPECT_EQ(r.weight("a:1"), 2.0);
  EXPECT_EQ(r.weight("b:1"), 0.5);
  EXPECT_EQ(r.weight("c:1"), 1.0);
  EXPECT_EQ(r.weight("d:1"), 1.0);
  EXPECT_EQ(r.point_count(), 200u + 50u + 100u + 100u);
  // A new weight label moves the member's share.
  feed.on_event(alive("b:1", {{"weight", "3"}}), at_ms(2000));
  auto next = feed.tick(at_ms(3000));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->after->weight("b:1"), 3.0);
  EXPECT_NE(next->after->checksum(), r.checksum());
}

TEST(RingWeights, ABadOwnWeightIsRefused) {
  EXPECT_EQ(check_weight_label({{"weight", "0.1"}}), "");
  EXPECT_EQ(check_weight_label({{"zone", "x"}}), "");
  EXPECT_EQ(check_weight_label({{"weight", "0"}}),
            "label weight='0': must be a number in [0.1, 10]");
  EXPECT_NE(check_weight_label({{"weight", "nan"}}), "");
  EXPECT_NE(check_weight_label({{"weight", "1e9"}}), "");
}

}  // namespace
}  // namespace shoal::node
