// Copyright shoal authors. See handler_pool.h.

#include "node/handler_pool.h"

#include <utility>

namespace shoal::node {

HandlerPool::HandlerPool(size_t threads, size_t queue_max) : queue_max_(queue_max) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

HandlerPool::~HandlerPool() { stop(); }

bool HandlerPool::submit(std::function<void()>& task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= queue_max_) return false;
    queue_.push_back(std::move(task));
  }
  ready_.notify_one();
  return true;
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
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();  // run_request() catches what the handler throws
  }
}

}  // namespace shoal::node
