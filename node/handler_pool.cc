// Copyright shoal authors. See handler_pool.h.

#include "shoal/node/handler_pool.h"

#include <algorithm>
#include <utility>

namespace shoal::node {

HandlerPool::HandlerPool(size_t threads, size_t queue_max)
    : queue_max_(queue_max), thread_count_(threads) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

HandlerPool::~HandlerPool() { stop(); }

size_t HandlerPool::submit_all(std::vector<std::function<void()>>& tasks) {
  size_t n = 0;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return 0;
    n = std::min(tasks.size(), queue_max_ - std::min(queue_max_, queue_.size()));
    for (size_t i = 0; i < n; ++i) queue_.push_back(std::move(tasks[i]));
  }
  if (n >= thread_count_) {
    ready_.notify_all();
  } else {
    for (size_t i = 0; i < n; ++i) ready_.notify_one();
  }
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
  for (;;) {
    {
      std::unique_lock lock(mu_);
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      const size_t share = std::max<size_t>(1, queue_.size() / (thread_count_ + 1));
      for (size_t i = 0; i < std::min(share, kBatch); ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    for (auto& task : batch) task();  // run_request() catches what the handler throws
    batch.clear();
  }
}

}  // namespace shoal::node
