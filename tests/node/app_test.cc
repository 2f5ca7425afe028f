// App gossip through the embedding API (node.h, app.h): three nodes in one
// process, on loopback. A broadcast and an event reach the listeners, a
// query is answered by the app's handler and the built-ins, a label
// filter picks the answering members, and bad input is refused with
// kInvalidArgument.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shoal/node/node.h"
#include "tests/node/eventually.h"

namespace shoal::node {
namespace {

using std::chrono::milliseconds;

struct Inbox {
  std::mutex mu;
  std::vector<AppMessage> got;
  size_t count(AppKind kind, const std::string& name) {
    std::lock_guard lock(mu);
    return static_cast<size_t>(std::count_if(got.begin(), got.end(), [&](const AppMessage& m) {
      return m.kind == kind && m.name == name;
    }));
  }
};

class AppApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      NodeOptions o;
      o.listen = "127.0.0.1:0";
      o.cluster = "app-api";
      if (i == 2) o.labels = {{"role", "db"}};
      if (i > 0) o.seeds = {nodes[0]->address()};
      nodes.push_back(std::make_unique<Node>(o));
      inbox.push_back(std::make_unique<Inbox>());
      Inbox* box = inbox.back().get();
      nodes.back()->on_app_message([box](const AppMessage& m) {
        std::lock_guard lock(box->mu);
        box->got.push_back(m);
      });
      // Set before start: kept and given to the engine.
      ASSERT_TRUE(nodes.back()
                      ->set_query_handler("whoami",
                                          [i](const AppMessage&) {
                                            return std::optional<std::string>("node-" +
                                                                              std::to_string(i));
                                          })
                      .ok());
      ASSERT_TRUE(nodes.back()->start().ok());
    }
    ASSERT_TRUE(eventually([&] {
      return std::all_of(nodes.begin(), nodes.end(),
                         [](auto& n) { return n->reachable_members().size() == 3; });
    }));
  }
  // Before the nodes: destroyed after them, so no listener writes into a
  // gone inbox (ThreadSanitizer caught it).
  std::vector<std::unique_ptr<Inbox>> inbox;
  std::vector<std::unique_ptr<Node>> nodes;
};

TEST_F(AppApiTest, BroadcastAndEventReachTheListeners) {
  ASSERT_TRUE(nodes[0]->broadcast("config", "blue").ok());
  ASSERT_TRUE(nodes[1]->event("deploy", "v1").ok());
  ASSERT_TRUE(eventually([&] {
    return inbox[1]->count(AppKind::kBroadcast, "config") == 1 &&
           inbox[2]->count(AppKind::kBroadcast, "config") == 1 &&
           std::all_of(inbox.begin(), inbox.end(),
                       [](auto& b) { return b->count(AppKind::kEvent, "deploy") == 1; });
  }));
  EXPECT_EQ(inbox[0]->count(AppKind::kBroadcast, "config"), 0u);  // not to its origin
}

TEST_F(AppApiTest, QueryIsAnsweredByHandlersAndFiltered) {
  QueryOptions all;
  all.timeout = milliseconds(1500);
  all.want_ack = true;
  QueryResult r = nodes[1]->query("whoami", "", all).get();
  ASSERT_TRUE(r.error.ok()) << r.error.to_string();
  std::vector<std::string> answers;
  for (const auto& x : r.responses) answers.push_back(x.payload);
  std::sort(answers.begin(), answers.end());
  EXPECT_EQ(answers, (std::vector<std::string>{"node-0", "node-1", "node-2"}));
  EXPECT_EQ(r.acks.size(), 3u);

  QueryOptions db;
  db.labels = {{"role", "db"}};
  db.timeout = milliseconds(1000);
  QueryResult p = nodes[0]->query("ping", "", db).get();
  ASSERT_EQ(p.responses.size(), 1u);
  EXPECT_EQ(p.responses[0].member, nodes[2]->name());
  EXPECT_EQ(p.responses[0].payload, "pong");

  // Removing the handler: nobody answers "whoami" (a query without a
  // handler is still delivered to the listeners).
  for (auto& n : nodes) ASSERT_TRUE(n->set_query_handler("whoami", nullptr).ok());
  QueryResult none = nodes[0]->query("whoami", "", db).get();
  EXPECT_TRUE(none.responses.empty());
}

TEST_F(AppApiTest, BadInputIsRefusedWithTheReason) {
  Error big = nodes[0]->broadcast("x", std::string(4000, 'p'));
  EXPECT_EQ(big.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(big.message.find("a payload of at most about"), std::string::npos) << big.message;
  EXPECT_EQ(nodes[0]->event("", "p").code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(nodes[0]->set_query_handler("bad name", nullptr).code, ErrorCode::kInvalidArgument);
  QueryResult r = nodes[0]->query("has space", "").get();
  EXPECT_EQ(r.error.code, ErrorCode::kInvalidArgument);
  Node stopped(NodeOptions{});
  EXPECT_EQ(stopped.event("deploy", "v1").code, ErrorCode::kNotRunning);
  EXPECT_EQ(stopped.query("ping", "").get().error.code, ErrorCode::kNotRunning);
}

}  // namespace
}  // namespace shoal::node
