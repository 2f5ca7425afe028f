// The handler executor's promises (node/handler_pool.h): a task runs while
// another thread is stuck in a slow one, a backlog brings in every
// thread, what does not fit is handed back, stop() drops what is queued,
// and each batch runs between its hooks. Bounded waits only.

#include "shoal/node/handler_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "tests/node/eventually.h"

namespace shoal::node {
namespace {

using std::chrono::milliseconds;

std::vector<std::function<void()>> one(std::function<void()> f) {
  std::vector<std::function<void()>> v;
  v.push_back(std::move(f));
  return v;
}

// One thread is in a handler that waits (a database); a new task must not
// wait behind it while another thread sleeps.
TEST(HandlerPool, ATaskRunsWhileAnotherThreadIsInASlowHandler) {
  HandlerPool pool(2, 100);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> slow_started{false}, quick_ran{false};
  auto slow = one([&, released] {
    slow_started = true;
    released.wait();
  });
  ASSERT_EQ(pool.submit_all(slow), 1u);
  ASSERT_TRUE(eventually([&] { return slow_started.load(); }));
  auto quick = one([&] { quick_ran = true; });
  ASSERT_EQ(pool.submit_all(quick), 1u);
  EXPECT_TRUE(eventually([&] { return quick_ran.load(); }, milliseconds(5000)));
  release.set_value();
  pool.stop();
}

// A backlog of waiting tasks brings in every thread.
TEST(HandlerPool, ABacklogUsesEveryThread) {
  HandlerPool pool(3, 1000);
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> done{0};
  std::vector<std::function<void()>> tasks;
  for (int i = 0; i < 60; ++i) {
    tasks.push_back([&] {
      {
        std::lock_guard lock(mu);
        threads.insert(std::this_thread::get_id());
      }
      std::this_thread::sleep_for(milliseconds(5));  // a handler that waits
      ++done;
    });
  }
  ASSERT_EQ(pool.submit_all(tasks), 60u);
  ASSERT_TRUE(eventually([&] { return done.load() == 60; }));
  std::lock_guard lock(mu);
  EXPECT_EQ(threads.size(), 3u);
  pool.stop();
}

TEST(HandlerPool, WhatDoesNotFitIsHandedBackAndStopDropsTheQueue) {
  HandlerPool pool(1, 2);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> ran{0};
  std::atomic<bool> started{false};
  auto first = one([&, released] {
    started = true;
    released.wait();
    ++ran;
  });
  ASSERT_EQ(pool.submit_all(first), 1u);
  ASSERT_TRUE(eventually([&] { return started.load(); }));
  std::vector<std::function<void()>> more;
  for (int i = 0; i < 3; ++i) more.push_back([&] { ++ran; });
  EXPECT_EQ(pool.submit_all(more), 2u);     // the queue holds 2
  EXPECT_TRUE(static_cast<bool>(more[2]));  // the third is still the caller's
  std::thread stopper([&] { pool.stop(); });
  std::this_thread::yield();
  release.set_value();
  stopper.join();
  // The running one finished; the two queued ones may have run before
  // stop() took the queue, never after.
  EXPECT_GE(ran.load(), 1);
  EXPECT_LE(ran.load(), 3);
  std::vector<std::function<void()>> late = one([&] { ++ran; });
  EXPECT_EQ(pool.submit_all(late), 0u);
}

TEST(HandlerPool, EachBatchRunsBetweenItsHooks) {
  std::atomic<int> depth{0}, bad{0}, batches{0};
  thread_local bool in_batch = false;
  HandlerPool pool(2, 1000,
                   {[&] {
                      in_batch = true;
                      ++depth;
                    },
                    [&] {
                      in_batch = false;
                      --depth;
                      ++batches;
                    }});
  std::atomic<int> done{0};
  std::vector<std::function<void()>> tasks;
  for (int i = 0; i < 100; ++i) {
    tasks.push_back([&] {
      if (!in_batch) ++bad;
      ++done;
    });
  }
  ASSERT_EQ(pool.submit_all(tasks), 100u);
  ASSERT_TRUE(eventually([&] { return done.load() == 100; }));
  pool.stop();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(batches.load(), 1);
}

}  // namespace
}  // namespace shoal::node
