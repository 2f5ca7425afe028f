// Copyright shoal authors. The handler executor: application handlers run
// on these threads, never on the io thread, so a handler that waits on a
// disk or a database does not delay probes and acks (and get its node
// suspected).
//
//   io thread --submit_all(tasks)--> queue (at most queue_max) --> N threads
//                 the ones that do not fit: the caller answers overloaded
//
// stop() lets each thread finish the task it runs, drops the ones still
// queued, and joins. Thread safety: submit_all() and stop() from any thread.

#ifndef SHOAL_NODE_HANDLER_POOL_H_
#define SHOAL_NODE_HANDLER_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shoal::node {

class HandlerPool {
 public:
  HandlerPool(size_t threads, size_t queue_max);
  ~HandlerPool();  // stop()
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  // Queues as many of `tasks` as fit, under one lock, waking as many
  // threads as there are tasks; the ones that did not fit stay in `tasks`
  // (the first `accepted` are moved from). Returns how many were queued.
  size_t submit_all(std::vector<std::function<void()>>& tasks);
  void stop();
  size_t queued() const;

 private:
  void run();

  const size_t queue_max_;
  const size_t thread_count_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_HANDLER_POOL_H_
