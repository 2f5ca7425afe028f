// Copyright shoal authors. The handler executor: application handlers run
// on these threads, never on the io thread, so a handler that waits on a
// disk or a database does not delay probes and acks (and get its node
// suspected).
//
//   io thread --submit_all(tasks)--> queue (at most queue_max) --> N threads
//                 the ones that do not fit: the caller answers overloaded
//
// Wake-ups are the cost to avoid: with a quick handler, waking a thread
// per request took a third of all CPU (perf: pthread_cond_signal ->
// try_to_wake_up, futex waits). So a submit wakes a thread only when none
// is looking at the queue (every thread asleep or running tasks: one that
// runs may run a slow handler for long); a thread keeps taking tasks
// until the queue is empty, and wakes one more while work is left over
// after it took its batch (a backlog), so threads join in as the queue
// grows and none is woken for work another is about to take.
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
  // Run by each thread around every batch of tasks it takes (either may
  // be empty): the handler gate gathers a batch's answers and hands them
  // back together.
  struct BatchHooks {
    std::function<void()> before, after;
  };
  HandlerPool(size_t threads, size_t queue_max, BatchHooks hooks = {});
  ~HandlerPool();  // stop()
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  // Queues as many of `tasks` as fit, under one lock, waking a thread if
  // none is awake; the ones that did not fit stay in `tasks` (the first
  // `accepted` are moved from). Returns how many were queued.
  size_t submit_all(std::vector<std::function<void()>>& tasks);
  void stop();
  size_t queued() const;

 private:
  void run();

  const size_t queue_max_;
  const size_t thread_count_;
  const BatchHooks hooks_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t sleeping_ = 0;                      // threads waiting; guarded by mu_
  size_t running_ = 0;                       // threads running tasks; guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_HANDLER_POOL_H_
