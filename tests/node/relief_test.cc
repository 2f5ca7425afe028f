// Copyright shoal authors. The io loop's relief (node/io_relief.h): quick
// handler runs stay on the io thread's own thread; a stuck one has the
// relief thread take the loop over and hand it back.
//
// No test here waits a fixed time: each stuck run waits for something only
// another thread running the io loop can do, with a bound of seconds.

#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shoal/node/handler_gate.h"
#include "shoal/node/io_relief.h"
#include "shoal/node/node.h"
#include "tests/node/eventually.h"

namespace shoal::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// An io context, a relief, and an owner thread running the loop as
// Node::Impl::run_io does: one completion, then what waits to run between
// completions (where the handler gate runs its inline runs).
class Relieved : public ::testing::Test {
 protected:
  void start(std::chrono::microseconds after) {
    relief.start(after);
    owner = std::thread([this] {
      relief.set_owner();
      owner_id = std::this_thread::get_id();
      for (;;) {
        if (relief.taken()) relief.take_back();
        std::function<void()> next;
        {
          std::lock_guard lock(mu);
          if (!between.empty()) {
            next = std::move(between.front());
            between.pop_front();
          }
        }
        if (next) {
          next();
          continue;
        }
        if (io.run_one() == 0) return;
      }
    });
  }
  void TearDown() override { stop_loop(); }
  void stop_loop() {
    work.reset();
    io.stop();
    if (owner.joinable()) owner.join();
    relief.stop();
  }
  // Runs f on the loop's thread (in a completion), waits for its result.
  template <class F>
  auto on_loop(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    EXPECT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
    return result.get();
  }
  // Runs f on the owner between two completions, waits for its result.
  template <class F>
  auto between_completions(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    {
      std::lock_guard lock(mu);
      between.emplace_back([&task] { task(); });
    }
    asio::post(io, [] {});  // ends the owner's wait for a completion
    EXPECT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
    return result.get();
  }
  // An inline run on the owner that waits until a completion runs (which
  // only a thread that took the loop can run); whether it ran, where, and
  // whether the owner still held the loop at the run's end.
  struct Stuck {
    bool may_run = false, completion_ran = false, still_owner = true;
    std::thread::id ran_on;
  };
  Stuck stuck_run(bool hurry) {
    return between_completions([this, hurry] {
      EXPECT_EQ(std::this_thread::get_id(), owner_id);
      Stuck s;
      s.may_run = relief.may_run_inline();
      relief.begin_inline();
      EXPECT_TRUE(IoRelief::inline_here());
      EXPECT_TRUE(relief.inline_run_here());
      std::promise<std::thread::id> ran;
      auto ran_f = ran.get_future();
      asio::post(io, [&ran] { ran.set_value(std::this_thread::get_id()); });
      if (hurry) IoRelief::hurry_current();
      s.completion_ran = ran_f.wait_for(seconds(10)) == std::future_status::ready;
      if (s.completion_ran) s.ran_on = ran_f.get();
      s.still_owner = relief.end_inline();
      EXPECT_FALSE(IoRelief::inline_here());
      return s;
    });
  }

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::mutex mu;
  std::vector<std::thread::id> io_threads;    // what set_io_thread was told, in order
  std::deque<std::function<void()>> between;  // guarded by mu
  std::atomic<int> takes{0};
  std::function<void()> take_hook;  // set before start(): Node::Impl's on_take
  IoRelief relief{io,
                  {[this](std::thread::id id) {
                     std::lock_guard lock(mu);
                     io_threads.push_back(id);
                   },
                   [this] {
                     ++takes;
                     if (take_hook) take_hook();
                   },
                   [](const char*) {}}};
  std::thread owner;
  std::thread::id owner_id;
};

TEST_F(Relieved, AStuckRunHasTheReliefRunTheLoopAndHandItBack) {
  start(milliseconds(1));
  Stuck s = stuck_run(false);
  EXPECT_TRUE(s.may_run);
  ASSERT_TRUE(s.completion_ran) << "the loop waited behind the stuck run";
  EXPECT_NE(s.ran_on, owner_id);
  EXPECT_FALSE(s.still_owner);
  EXPECT_EQ(relief.takeovers(), 1u);
  // The owner asks for the loop back; the relief hands it over after the
  // completion it runs. From then on the owner runs everything, and takes
  // no inline run for a while (cool-down).
  ASSERT_TRUE(eventually([&] { return !relief.taken(); }, seconds(10)));
  EXPECT_EQ(on_loop([] { return std::this_thread::get_id(); }), owner_id);
  EXPECT_FALSE(between_completions([this] { return relief.may_run_inline(); }));
  EXPECT_EQ(takes.load(), 1);
  std::lock_guard lock(mu);
  ASSERT_EQ(io_threads.size(), 2u);
  EXPECT_EQ(io_threads[0], s.ran_on);
  EXPECT_EQ(io_threads[1], owner_id);
}

TEST_F(Relieved, QuickRunsStayOnTheOwner) {
  start(milliseconds(200));  // far above a quick run, even on a loaded machine
  for (int i = 0; i < 1000; ++i) {
    const bool ok = between_completions([this] {
      if (!relief.may_run_inline()) return false;
      relief.begin_inline();
      return relief.end_inline();
    });
    ASSERT_TRUE(ok) << "run " << i;
  }
  EXPECT_EQ(relief.takeovers(), 0u);
  std::lock_guard lock(mu);
  EXPECT_TRUE(io_threads.empty());
}

// A run that waits for the loop (a blocking Node call) hurries the relief:
// it takes over at once, not after a poll of a minute.
TEST_F(Relieved, AHurriedReliefTakesOverAtOnce) {
  start(seconds(60));
  Stuck s = stuck_run(true);
  ASSERT_TRUE(s.completion_ran);
  EXPECT_NE(s.ran_on, owner_id);
  EXPECT_FALSE(s.still_owner);
}

// Take-over after take-over while another thread posts completions: every
// completion runs once, and never two at a time (`count` is a plain int
// only the loop's completions touch: ThreadSanitizer sees any overlap).
TEST_F(Relieved, ManyTakeOversLoseNoCompletionAndNeverRunTwoAtATime) {
  start(seconds(60));
  constexpr int kPosts = 5000, kRuns = 100;
  int count = 0;
  std::thread poster([&] {
    for (int i = 0; i < kPosts; ++i) asio::post(io, [&count] { ++count; });
  });
  for (int i = 0; i < kRuns; ++i) {
    Stuck s = stuck_run(true);
    ASSERT_TRUE(s.completion_ran) << "run " << i;
    EXPECT_FALSE(s.still_owner);
  }
  poster.join();
  EXPECT_EQ(on_loop([&count] { return count; }), kPosts);
  EXPECT_EQ(relief.takeovers(), static_cast<uint64_t>(kRuns));
}

// A stuck handler does not hold the handlers of its batch: after the
// take-over, the rest of the batch goes to the handler threads at once.
TEST_F(Relieved, TheRestOfAStuckBatchGoesToTheHandlerThreadsAtOnce) {
  HandlerGate gate(io);
  std::mutex answers_mu;
  std::vector<std::string> answers;  // payloads, in the order they came
  auto drain = [&] {
    auto batch = gate.take();
    std::lock_guard lock(answers_mu);
    for (auto& [job, outcome] : batch) answers.push_back(outcome.payload);
  };
  gate.start(2, 100, drain, &relief);
  take_hook = [&] {  // as Node::Impl does
    gate.release_inline_rest();
    asio::post(io, drain);
  };
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  gate.set_handler("", [released](Request r, Reply reply) {
    if (r.payload == "stuck") released.wait_for(seconds(10));
    reply.ok(r.payload);
  });
  start(milliseconds(1));
  std::vector<HandlerJob> jobs(3);
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].id = i + 1;
    jobs[i].request.payload = i == 0 ? "stuck" : "quick-" + std::to_string(i);
    jobs[i].request.deadline = std::chrono::steady_clock::now() + seconds(60);
  }
  std::thread turn([&] {
    between_completions([&] {
      gate.dispatch(std::move(jobs), "self");
      gate.flush(true);
      return 0;
    });
  });
  auto got = [&](size_t n) {
    std::lock_guard lock(answers_mu);
    return answers.size() >= n;
  };
  const bool quick_first = eventually([&] { return got(2); }, seconds(10));
  release.set_value();
  turn.join();
  ASSERT_TRUE(quick_first) << "the quick handlers waited behind the stuck one";
  ASSERT_TRUE(eventually([&] { return got(3); }, seconds(10)));
  stop_loop();  // no drain runs after the gate is gone
  std::lock_guard lock(answers_mu);
  std::vector<std::string> first_two(answers.begin(), answers.begin() + 2);
  std::sort(first_two.begin(), first_two.end());
  EXPECT_EQ(first_two, (std::vector<std::string>{"quick-1", "quick-2"}));
  EXPECT_EQ(answers[2], "stuck");
  EXPECT_EQ(relief.takeovers(), 1u);
}

// Not the owner, or no relief: no inline runs.
TEST_F(Relieved, OnlyTheOwnerWithAReliefRunsInline) {
  EXPECT_FALSE(relief.may_run_inline());  // the test's thread: not the owner
  start(std::chrono::microseconds(0));    // no relief thread
  EXPECT_FALSE(
      between_completions([this] { return relief.may_run_inline() || relief.owner_flushes(); }));
}

// ---- in a node ----

NodeOptions options() {
  NodeOptions o;
  o.listen = "127.0.0.1:0";
  o.cluster = "relief-test";
  return o;
}

// With the default options, a handler that waits for its own node (a
// blocking call answered by the io loop) still answers: the relief runs the
// loop meanwhile, and counts it.
TEST(NodeRelief, AHandlerThatWaitsForItsNodeStillAnswers) {
  Node a(options());
  a.set_simple_handler([&a](std::string_view, std::string_view) {
    return HandlerResult{true, std::to_string(a.members().size())};
  });
  ASSERT_EQ(a.start().message, "");
  for (int i = 0; i < 3; ++i) {
    ForwardResult r = a.handle_or_forward("k" + std::to_string(i), "").get();
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.payload, "1");
  }
  EXPECT_GE(a.stats().io_relief_takeovers, 1u);
}

// A handler that waits on a future form (a request to another endpoint of
// its own node, which runs on a handler thread): the future form hurries
// the relief, so the loop moves at once, not after a poll (1 s here).
TEST(NodeRelief, AHandlerThatWaitsOnAFutureFormStillAnswers) {
  NodeOptions o = options();
  o.io_relief_after = seconds(1);
  Node a(o);
  ASSERT_EQ(a.set_simple_handler("inner",
                                 [](std::string_view, std::string_view payload) {
                                   return HandlerResult{true, "inner:" + std::string(payload)};
                                 })
                .message,
            "");
  a.set_simple_handler([&a](std::string_view, std::string_view payload) {
    ForwardResult r = a.request(a.address(), "inner", std::string(payload)).get();
    return HandlerResult{r.ok(), r.ok() ? r.payload : r.message};
  });
  ASSERT_EQ(a.start().message, "");
  ForwardResult r = a.handle_or_forward("k", "x").get();
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.payload, "inner:x");
  EXPECT_EQ(a.stats().io_relief_takeovers, 1u);
}

// A handler that waits for its own node after the shutdown stopped the
// loop (a deadlock before: the shutdown's io.stop() left the call queued,
// and the owner's end, which ends such waits, waited for the handler).
TEST(NodeRelief, AHandlerThatWaitsForItsNodeAfterTheShutdownEnds) {
  Node a(options());
  std::promise<void> entered;
  std::promise<ForwardResult> result;
  std::shared_future<ForwardResult> result_f = result.get_future().share();
  std::atomic<bool> asked{false};
  a.set_simple_handler([&](std::string_view, std::string_view) {
    entered.set_value();
    // The shutdown answers this very request shutting_down: after that,
    // the io loop has stopped.
    result_f.wait_for(seconds(10));
    a.members();  // must come back, not wait for a loop that is gone
    asked = true;
    return HandlerResult{true, "late"};
  });
  ASSERT_EQ(a.start().message, "");
  a.handle_or_forward("k", "", ForwardOptions{}, [&](ForwardResult r) { result.set_value(r); });
  ASSERT_EQ(entered.get_future().wait_for(seconds(10)), std::future_status::ready);
  std::promise<void> stop_returned;
  std::thread stopper([&] {
    a.stop();
    stop_returned.set_value();
  });
  const bool stopped =
      stop_returned.get_future().wait_for(seconds(20)) == std::future_status::ready;
  if (!stopped) stopper.detach();  // hung: fail rather than hang the suite
  ASSERT_TRUE(stopped) << "stop() hung on a handler waiting for its node";
  stopper.join();
  EXPECT_TRUE(asked.load());
  ASSERT_EQ(result_f.wait_for(seconds(0)), std::future_status::ready);
  EXPECT_EQ(result_f.get().error, ForwardError::kShuttingDown) << result_f.get().message;
}

// A node stops while a handler is stuck on the io thread's own thread: the
// relief runs the shutdown, and stop() returns once the handler ends.
TEST(NodeRelief, StopWhileAHandlerIsStuck) {
  Node a(options());
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  std::atomic<int> runs{0};
  a.set_simple_handler([&](std::string_view, std::string_view) {
    if (runs++ == 0) {
      entered.set_value();
      released.wait_for(seconds(10));
    }
    return HandlerResult{true, "done"};
  });
  ASSERT_EQ(a.start().message, "");
  std::promise<ForwardResult> result;
  a.handle_or_forward("k", "", ForwardOptions{}, [&](ForwardResult r) { result.set_value(r); });
  ASSERT_EQ(entered.get_future().wait_for(seconds(10)), std::future_status::ready);
  // The loop is not stuck: a query answers while the handler still runs.
  ASSERT_TRUE(eventually([&] { return a.stats().io_relief_takeovers >= 1; }));
  EXPECT_EQ(a.members().size(), 1u);
  std::promise<void> stop_returned;
  std::thread stopper([&] {
    a.stop();
    stop_returned.set_value();
  });
  release.set_value();
  EXPECT_EQ(stop_returned.get_future().wait_for(seconds(10)), std::future_status::ready);
  stopper.join();
  EXPECT_TRUE(a.wait_stopped(milliseconds(0)));
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(seconds(10)), std::future_status::ready);
  const ForwardResult r = f.get();
  // Exactly one result: the answer, or shutting_down if the forwarder went first.
  EXPECT_TRUE(r.ok() || r.error == ForwardError::kShuttingDown) << r.message;
}

}  // namespace
}  // namespace shoal::node
