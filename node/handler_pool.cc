// Copyright shoal authors. See handler_pool.h.

#include "shoal/node/handler_pool.h"

#include <algorithm>
#include <utility>

namespace shoal::node {

HandlerPool::HandlerPool(size_t threads, size_t queue_max, BatchHooks hooks)
    : queue_max_(queue_max), thread_count_(threads), hooks_(std::move(hooks)) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

HandlerPool::~HandlerPool() { stop(); }

size_t HandlerPool::submit_all(std::vector<std::function<void()>>& tasks) {
  size_t n = 0;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return 0;
    n = std::min(tasks.size(), queue_max_ - std::min(queue_max_, queue_.size()));
    for (size_t i = 0; i < n; ++i) queue_.push_back(std::move(tasks[i]));
    // A thread looking at the queue (neither asleep nor running tasks)
    // will take these; else wake one. A thread busy in a handler may be
    // busy for long (a handler that waits on a database).
    wake = n > 0 && sleeping_ > 0 && sleeping_ + running_ == thread_count_;
  }
  if (wake) ready_.notify_one();
  return n;
}

size_t HandlerPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void HandlerPool::stop() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  ready_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // `dropped` goes here, on the caller's thread, after the workers.
}

void HandlerPool::run() {
  // A few tasks per turn of the lock: fewer hand-offs under load, while
  // the other threads still find work.
  constexpr size_t kBatch = 8;
  std::vector<std::function<void()>> batch;
  batch.reserve(kBatch);
  bool ran = false;  // this thread counts in running_
  for (;;) {
    bool wake_another = false;
    {
      std::unique_lock lock(mu_);
      if (ran) --running_;
      ran = false;
      // Looking at the queue now: a submit meanwhile needs wake no one.
      while (queue_.empty() && !stopping_) {
        ++sleeping_;
        ready_.wait(lock);
        --sleeping_;
      }
      if (stopping_) return;
      const size_t share = std::max<size_t>(1, queue_.size() / (thread_count_ + 1));
      for (size_t i = 0; i < std::min(share, kBatch); ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      ++running_;
      ran = true;
      // Work left over: a backlog. Bring in one more thread, which does
      // the same: threads join as the queue grows.
      wake_another = !queue_.empty() && sleeping_ > 0;
    }
    if (wake_another) ready_.notify_one();
    if (hooks_.before) hooks_.before();
    for (auto& task : batch) task();  // run_request() catches what the handler throws
    batch.clear();
    if (hooks_.after) hooks_.after();
  }
}

}  // namespace shoal::node
