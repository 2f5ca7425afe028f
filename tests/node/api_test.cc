// The embedding API as an app meets it (node.h): typed errors, member
// lookups, handlers given as generic lambdas, a logger per node, and the
// thread-safety promises (hooks added while the node leaves, a ring
// reader taken before start, the io thread calling back into the node).
// Each thread-safety test fails without its fix: the hook race under TSan
// (scripts/test.sh --tsan), the other two in any build.

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shoal/node/node.h"
#include "tests/node/eventually.h"

namespace shoal::node {
namespace {

using std::chrono::milliseconds;

NodeOptions options() {
  NodeOptions o;
  o.listen = "127.0.0.1:0";
  o.cluster = "api-test";
  return o;
}

TEST(NodeApi, ErrorsAreTyped) {
  NodeOptions bad = options();
  bad.seeds = {"no-port"};
  Node n(bad);
  Error err = n.start();
  EXPECT_TRUE(err);
  EXPECT_EQ(err.code, ErrorCode::kInvalidOptions);
  EXPECT_NE(err.message.find("seeds:"), std::string::npos) << err.message;
  EXPECT_EQ(err.to_string().rfind("invalid_options: seeds:", 0), 0u) << err.to_string();

  Node a(options());
  ASSERT_TRUE(a.start().ok());
  Error twice = a.start();
  EXPECT_EQ(twice.code, ErrorCode::kAlreadyStarted);

  NodeOptions same = options();
  same.listen = a.address();
  Node b(same);
  Error in_use = b.start();
  EXPECT_EQ(in_use.code, ErrorCode::kBindFailed) << in_use.to_string();

  Error big = a.set_labels({{"big", std::string(600, 'x')}});
  EXPECT_EQ(big.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(big.message.find("512"), std::string::npos);
  Node never(options());
  EXPECT_EQ(never.set_labels({{"zone", "a"}}).code, ErrorCode::kNotRunning);
  EXPECT_TRUE(a.set_labels({{"zone", "a"}}).ok());
}

TEST(NodeApi, MembersByNameAndReachable) {
  Node a(options());
  ASSERT_TRUE(a.start().ok());
  NodeOptions bo = options();
  bo.name = "b-node";
  bo.labels = {{"role", "cache"}};
  bo.seeds = {a.address()};
  auto b = std::make_unique<Node>(bo);
  ASSERT_TRUE(b->start().ok());
  ASSERT_TRUE(eventually([&] { return a.reachable_members().size() == 2; }));

  std::optional<Member> m = a.member("b-node");
  ASSERT_TRUE(m);
  EXPECT_EQ(address_of(*m), b->address());
  EXPECT_EQ(m->status, MemberStatus::kAlive);
  EXPECT_FALSE(a.member("nobody"));
  auto caches = a.reachable_members([](const Member& x) {
    auto it = x.labels.find("role");
    return it != x.labels.end() && it->second == "cache";
  });
  ASSERT_EQ(caches.size(), 1u);
  EXPECT_EQ(caches[0].name, "b-node");

  // A departed member is still a member, but not reachable.
  b->leave(milliseconds(1000));
  ASSERT_TRUE(eventually([&] { return a.reachable_members().size() == 1; }));
  EXPECT_EQ(a.members().size(), 2u);
  EXPECT_EQ(a.member("b-node")->status, MemberStatus::kLeave);
}

TEST(NodeApi, GenericLambdasAreHandlers) {
  NodeOptions o = options();
  o.handler_threads = 1;
  Node a(o);
  a.set_handler([](auto request, auto reply) { reply.ok("async " + request.key); });
  ASSERT_TRUE(a.start().ok());
  EXPECT_EQ(a.handle_or_forward("k1", "").get().payload, "async k1");
  a.set_simple_handler([](auto key, auto payload) {
    return HandlerResult{true, "simple " + std::string(key) + std::string(payload)};
  });
  EXPECT_EQ(a.handle_or_forward("k2", "!").get().payload, "simple k2!");
}

// Named endpoints: each has its own handler, at the owner and locally; an
// endpoint without a handler is an error naming it; a bad name is refused
// before anything is sent.
TEST(NodeApi, EndpointsPickTheirHandler) {
  auto serve = [](Node& n) {
    n.set_simple_handler([&n](auto, auto) { return HandlerResult{true, n.name() + ":"}; });
    EXPECT_TRUE(n.set_simple_handler("kv.get", [&n](auto key, auto) {
                   return HandlerResult{true, n.name() + ":get " + std::string(key)};
                 }).ok());
    EXPECT_TRUE(n.set_handler("kv.put", [&n](Request r, Reply reply) {
                   reply.ok(n.name() + ":put " + r.key + "=" + r.payload);
                 }).ok());
  };
  NodeOptions ao = options();
  ao.name = "a";
  Node a(ao);
  serve(a);
  ASSERT_TRUE(a.start().ok());
  NodeOptions bo = options();
  bo.name = "b";
  bo.seeds = {a.address()};
  Node b(bo);
  serve(b);
  ASSERT_TRUE(b.start().ok());
  ASSERT_TRUE(eventually([&] { return a.ring()->member_count() == 2; }));
  std::string at_b, at_a;
  for (int i = 0; i < 1000 && (at_a.empty() || at_b.empty()); ++i) {
    const std::string k = "key-" + std::to_string(i);
    (a.ring()->lookup(k) == "b" ? at_b : at_a) = k;
  }
  ForwardOptions get, put, none, bad;
  get.endpoint = "kv.get";
  put.endpoint = "kv.put";
  none.endpoint = "kv.nothing";
  bad.endpoint = std::string(65, 'x');
  EXPECT_EQ(a.handle_or_forward(at_b, "", get).get().payload, "b:get " + at_b);
  EXPECT_EQ(a.handle_or_forward(at_b, "1", put).get().payload, "b:put " + at_b + "=1");
  EXPECT_EQ(a.handle_or_forward(at_a, "2", put).get().payload, "a:put " + at_a + "=2");
  EXPECT_EQ(a.handle_or_forward(at_b, "").get().payload, "b:");
  for (const std::string& key : {at_a, at_b}) {
    ForwardResult r = a.handle_or_forward(key, "", none).get();
    EXPECT_EQ(r.error, ForwardError::kNoHandler);
    EXPECT_NE(r.message.find("no handler for endpoint 'kv.nothing'"), std::string::npos)
        << r.message;
  }
  ForwardResult r = a.handle_or_forward(at_b, "", bad).get();
  EXPECT_EQ(r.error, ForwardError::kBadRequest);
  EXPECT_NE(r.message.find("endpoint name of 65 bytes"), std::string::npos) << r.message;
  EXPECT_EQ(a.stats().forwards_sent, 4u);  // the bad one never left
  EXPECT_EQ(a.set_handler("has space", [](Request, Reply) {}).code, ErrorCode::kInvalidArgument);
  // Removed: its requests end in no_handler again.
  ASSERT_TRUE(b.set_handler("kv.get", AsyncHandler()).ok());
  EXPECT_EQ(a.handle_or_forward(at_b, "", get).get().error, ForwardError::kNoHandler);
}

// Two nodes in one process, each with its own logger: each line goes to its
// node's sink and begins with that node's name.
TEST(NodeApi, EachNodeLogsToItsOwnLogger) {
  std::ostringstream out_a, out_b;
  auto logger = [](const char* name, std::ostringstream& out) {
    auto l = std::make_shared<spdlog::logger>(
        name, std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    l->set_level(spdlog::level::info);
    l->set_pattern("%v");
    return l;
  };
  NodeOptions ao = options();
  ao.name = "node-a";
  ao.logger = logger("a", out_a);
  Node a(ao);
  ASSERT_TRUE(a.start().ok());
  NodeOptions bo = options();
  bo.name = "node-b";
  bo.logger = logger("b", out_b);
  bo.seeds = {a.address()};
  Node b(bo);
  ASSERT_TRUE(b.start().ok());
  ASSERT_TRUE(eventually([&] { return a.ring()->member_count() == 2; }));
  a.stop();
  b.stop();
  const std::string la = out_a.str(), lb = out_b.str();
  EXPECT_NE(la.find("node-a: member node-b ("), std::string::npos) << la;
  EXPECT_NE(lb.find("node-b: member node-a ("), std::string::npos) << lb;
  for (const auto& [text, name] : {std::pair{la, "node-a: "}, std::pair{lb, "node-b: "}}) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      EXPECT_EQ(line.rfind(name, 0), 0u) << "a line without its node's name: " << line;
    }
  }
}

// Leave hooks added from another thread while the io thread walks them.
// Before the fix on_leave() appended to a vector the io thread read without
// a lock: TSan reports the race.
TEST(NodeThreadSafety, LeaveHooksMayBeAddedWhileTheNodeLeaves) {
  Node a(options());
  ASSERT_TRUE(a.start().ok());
  std::atomic<int> before{0}, after{0};
  std::atomic<bool> go{false};
  std::thread adder([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < 200; ++i) a.on_leave([&] { ++before; }, [&] { ++after; });
  });
  a.on_leave([&] { go = true; }, {});
  a.leave(milliseconds(1000));
  adder.join();
  EXPECT_TRUE(a.wait_stopped(milliseconds(0)));
  // A hook added before the drain began runs both halves; one added
  // between the halves runs only `after`; a later one, neither.
  EXPECT_GE(after.load(), before.load());
}

// A ring reader taken before start() follows the live ring. Before the fix
// ring_publisher() returned a static empty publisher until start(), and a
// reader taken then never saw a member.
TEST(NodeThreadSafety, RingReaderTakenBeforeStartFollowsTheRing) {
  Node a(options());
  ring::RingReader reader(a.ring_publisher());
  EXPECT_EQ(reader.get().member_count(), 0u);
  ASSERT_TRUE(a.start().ok());
  EXPECT_TRUE(eventually([&] { return reader.get().member_count() == 1; }));
  EXPECT_EQ(a.ring()->member_count(), 1u);
}

// The io thread calling back into the node: a future form waited on there
// ends at once in an error (before the fix it waited for itself forever),
// and leave() begins the leave without waiting for itself.
TEST(NodeThreadSafety, TheIoThreadCanCallTheNodeWithoutDeadlock) {
  NodeOptions o = options();
  o.handler_threads = 0;
  Node a(o);
  a.set_simple_handler([](std::string_view key, std::string_view) {
    return HandlerResult{true, std::string(key)};
  });
  ASSERT_TRUE(a.start().ok());
  std::promise<ForwardResult> inner;
  auto inner_f = inner.get_future();
  a.handle_or_forward("outer", "", {}, [&](ForwardResult) {
    inner.set_value(a.handle_or_forward("inner", "").get());  // on the io thread
    a.leave(milliseconds(500));
  });
  if (inner_f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::fprintf(stderr, "deadlock: the io thread waits for itself\n");
    std::abort();  // the node's destructor would wait forever too
  }
  ForwardResult r = inner_f.get();
  EXPECT_EQ(r.error, ForwardError::kBadRequest);
  EXPECT_NE(r.message.find("io thread"), std::string::npos) << r.message;
  EXPECT_TRUE(a.wait_stopped(milliseconds(10000)));
}

// Listeners on the io thread that call the node, one inside another: a
// ring listener sets labels (which runs the member listeners), and a
// member listener asks for members(). Before the fix the node ran the
// first call's work holding its state lock, and the second call waited
// for that lock forever.
TEST(NodeThreadSafety, ListenersMayCallTheNodeFromTheIoThread) {
  Node a(options());
  std::promise<void> labelled;
  std::atomic<bool> once{false};
  std::atomic<int> queries{0};
  a.on_member_change([&](const MemberEvent& e) {
    if (e.name == a.name() && e.labels.count("seen")) {
      queries += static_cast<int>(a.members().size());
      if (!once.exchange(true)) labelled.set_value();
    }
  });
  a.on_ring_change([&](const RingChange& c) {
    if (c.after->member_count() == 2) (void)a.set_labels({{"seen", "1"}});
  });
  ASSERT_TRUE(a.start().ok());
  NodeOptions bo = options();
  bo.seeds = {a.address()};
  Node b(bo);
  ASSERT_TRUE(b.start().ok());
  if (labelled.get_future().wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "deadlock or no ring change: the listeners never completed\n");
    std::abort();
  }
  EXPECT_GE(queries.load(), 2);
}

TEST(NodeApi, LabelsCannotChangeWhileLeavingOrStopped) {
  NodeOptions o = options();
  o.handler_threads = 1;
  Node a(o);
  std::promise<void> entered, release;
  auto release_f = release.get_future().share();
  a.set_handler([&, release_f](Request, Reply reply) {
    entered.set_value();
    release_f.wait();
    reply.ok("done");
  });
  ASSERT_TRUE(a.start().ok());
  std::promise<ForwardResult> result;
  a.handle_or_forward("k", "", {}, [&](ForwardResult r) { result.set_value(std::move(r)); });
  entered.get_future().wait();
  // The handler holds the drain open: the node stays leaving meanwhile.
  std::thread leaver([&] { a.leave(milliseconds(500)); });
  EXPECT_TRUE(eventually([&] { return a.set_labels({{"x", "1"}}).code == ErrorCode::kLeaving; }));
  release.set_value();
  leaver.join();
  EXPECT_EQ(a.set_labels({{"x", "1"}}).code, ErrorCode::kNotRunning);
  EXPECT_TRUE(result.get_future().get().ok());
}

TEST(NodeApi, AStartRefusedForItsOptionsIsNotAStart) {
  NodeOptions o = options();
  o.protocol.protocol_period = milliseconds(1);
  Node a(o);
  EXPECT_EQ(a.start().code, ErrorCode::kInvalidOptions);
  // Nothing was bound: a second start() is judged on its options again,
  // not refused as already started.
  EXPECT_EQ(a.start().code, ErrorCode::kInvalidOptions);
}

}  // namespace
}  // namespace shoal::node
