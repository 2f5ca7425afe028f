// Node::request and Node::replicate on real loopback sockets: a request
// reaches the member named whoever owns what, an unknown or stopped member
// ends at once in its own error, and the replicator writes a key to its
// owners, each told which owner it is. Bounded polls, no fixed sleeps.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shoal/node/node.h"
#include "tests/node/eventually.h"

namespace shoal::node {
namespace {

using std::chrono::milliseconds;

// Three named nodes, each serving "who" (its name and what it was told)
// and "store" (remembers payloads by replica number).
struct Trio {
  std::vector<std::unique_ptr<Node>> nodes;
  std::mutex mu;
  std::map<std::string, std::map<int, std::string>> stored;  // node -> replica -> payload

  Trio() {
    for (const char* name : {"a", "b", "c"}) {
      NodeOptions o;
      o.listen = "127.0.0.1:0";
      o.cluster = "request-test";
      o.name = name;
      if (!nodes.empty()) o.seeds = {nodes[0]->address()};
      auto n = std::make_unique<Node>(o);
      Node* self = n.get();
      EXPECT_TRUE(n->set_handler("who", [self](Request r, Reply reply) {
                     reply.ok(self->name() + (r.directed ? " directed " : " keyed ") + r.payload);
                   }).ok());
      EXPECT_TRUE(n->set_handler("store", [this, self](Request r, Reply reply) {
                     std::lock_guard lock(mu);
                     stored[self->name()][r.replica] = r.key + "=" + r.payload;
                     reply.ok(std::to_string(r.replica));
                   }).ok());
      EXPECT_TRUE(n->start().ok());
      nodes.push_back(std::move(n));
    }
  }
  Node& operator[](size_t i) { return *nodes[i]; }
  bool converged() {
    for (auto& n : nodes) {
      if (n->ring()->member_count() != nodes.size()) return false;
    }
    return true;
  }
};

TEST(NodeRequest, ReachesTheMemberNamedWhoeverOwnsWhat) {
  Trio t;
  ASSERT_TRUE(eventually([&] { return t.converged(); }));
  for (const char* to : {"a", "b", "c"}) {
    ForwardResult r = t[0].request(to, "who", "hi").get();
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.payload, std::string(to) + " directed hi");
    EXPECT_EQ(r.handled_by, to);
  }
  ForwardResult unknown = t[0].request("nobody", "who", "hi").get();
  EXPECT_EQ(unknown.error, ForwardError::kUnknownMember);
  EXPECT_EQ(unknown.message, "no member named nobody is known to a");
  ForwardResult none = t[0].request("b", "missing", "hi").get();
  EXPECT_EQ(none.error, ForwardError::kNoHandler);
  EXPECT_NE(none.message.find("'missing'"), std::string::npos) << none.message;
  ForwardOptions o;
  o.endpoint = "ignored";  // the endpoint argument wins
  EXPECT_TRUE(t[0].request("b", "who", "x", o).get().ok());
  EXPECT_EQ(t[0].stats().requests_unknown_member, 1u);
  EXPECT_EQ(t[0].stats().requests_directed, 6u);
}

TEST(NodeRequest, AStoppedMemberEndsInItsOwnErrorOnceSeenFaulty) {
  Trio t;
  ASSERT_TRUE(eventually([&] { return t.converged(); }));
  t[2].stop();
  // Until the others see it faulty, the request fails on its link; after,
  // at once as unknown_member, naming its status.
  ASSERT_TRUE(eventually([&] {
    ForwardOptions o;
    o.timeout = milliseconds(300);
    return t[0].request("c", "who", "", o).get().error == ForwardError::kUnknownMember;
  }));
  ForwardResult r = t[0].request("c", "who", "").get();
  EXPECT_EQ(r.message.rfind("member c is ", 0), 0u) << r.message;
  EXPECT_EQ(r.attempts, 1);
}

// A node started labelled draining is an entry point only: no ring holds
// it, its own included, so every request it takes goes to the others
// (the forwarding benchmark's entry process).
TEST(NodeRequest, ANodeStartedDrainingIsOnNoRingItsOwnIncluded) {
  NodeOptions ao;
  ao.listen = "127.0.0.1:0";
  ao.cluster = "request-test";
  ao.name = "owner";
  Node owner(ao);
  ASSERT_TRUE(
      owner.set_simple_handler("",
                               [](auto, auto p) {
                                 return HandlerResult{true, std::string(p)};
                               })
          .ok());
  ASSERT_TRUE(owner.start().ok());
  NodeOptions eo = ao;
  eo.name = "entry";
  eo.seeds = {owner.address()};
  eo.labels = {{"draining", "true"}};
  Node entry(eo);
  EXPECT_EQ(entry.ring()->member_count(), 0u);
  ASSERT_TRUE(entry.start().ok());
  ASSERT_TRUE(eventually([&] { return entry.ring()->member_count() == 1; }));
  EXPECT_FALSE(entry.ring()->contains("entry"));
  EXPECT_FALSE(owner.ring()->contains("entry"));
  for (int i = 0; i < 20; ++i) {
    ForwardResult r = entry.handle_or_forward("k" + std::to_string(i), "x").get();
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.handled_by, "owner");
  }
}

TEST(NodeReplicate, WritesAKeyToItsOwnersEachToldWhichOwnerItIs) {
  Trio t;
  ASSERT_TRUE(eventually([&] { return t.converged(); }));
  ReplicaOptions o;
  o.n = 3;
  o.quorum = 3;
  o.request.endpoint = "store";
  ReplicaResult r = t[1].replicate("user:7", "v1", o).get();
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.ok_count, 3u);
  const auto owners = t[1].ring()->lookup_n("user:7", 3);
  ASSERT_EQ(r.answers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.answers[i].member, owners[i]);
    EXPECT_EQ(r.answers[i].result.payload, std::to_string(i));
    std::lock_guard lock(t.mu);
    EXPECT_EQ(t.stored[std::string(owners[i])][static_cast<int>(i)], "user:7=v1");
  }
  o.n = 4;  // above the ring's members
  r = t[1].replicate("user:7", "v2", o).get();
  EXPECT_EQ(r.error, ForwardError::kBadRequest);
  EXPECT_EQ(r.message, "replica count 4 is above the ring's 3 members");
  o.n = 2;
  o.quorum = 3;
  r = t[1].replicate("user:7", "v2", o).get();
  EXPECT_EQ(r.error, ForwardError::kBadRequest);
  EXPECT_EQ(t[1].stats().replications_failed, 2u);
}

}  // namespace
}  // namespace shoal::node
