// Copyright shoal authors. The handler gate: how requests for this node's
// keys reach the application's handler, and how its answers come back to
// the io thread.
//
//   io thread: dispatch(jobs) --threads > 0--> pending --one flush per turn--> HandlerPool
//              |                               of the io loop (queued together;
//              |                               what does not fit: overloaded)
//              `--threads 0----> run here, on the io thread
//   any thread: Reply::ok/fail --> outcomes queue --one post per batch--> io thread:
//                                                   drain() --> take() --> engine
//
// Every crossing between threads costs a wake-up, and wake-ups were the
// cost (perf, 3 nodes on 2 cores: one context switch per request, 15 us
// of CPU against 5 us inline). So each crossing carries a batch:
//   * jobs: dispatch() collects them, and one flush, posted to the io
//     thread behind the inputs already waiting there, hands all of that
//     turn's jobs to the pool at once (the pool wakes a thread only if
//     none is awake);
//   * answers: a pool thread gathers the answers its batch's handlers
//     give while they run, and hands them over together at the batch's
//     end, or as soon as the oldest has waited 200 us (slow handlers);
//     other answers (a handler that answers later, from its own thread)
//     go one by one;
//   * the io thread: an answer posts a drain only if none is pending, and
//     one drain takes every answer queued meanwhile.
// Handlers run inline (threads 0) are taken right after they run, without
// a trip through the io queue. After close() (the node is going), late
// answers reach nothing.
//
// Thread safety: set_handler() and answers from any thread; the rest on
// the io thread.

#ifndef SHOAL_NODE_HANDLER_GATE_H_
#define SHOAL_NODE_HANDLER_GATE_H_

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "shoal/node/forwarder.h"
#include "shoal/node/handler.h"
#include "shoal/node/handler_pool.h"
#include "shoal/node/histogram.h"
#include "shoal/node/io_relief.h"

namespace shoal::node {

class HandlerGate {
 public:
  using Outcomes = std::vector<std::pair<uint64_t, HandlerOutcome>>;

  explicit HandlerGate(asio::io_context& io);
  ~HandlerGate() { close(); }
  HandlerGate(const HandlerGate&) = delete;
  HandlerGate& operator=(const HandlerGate&) = delete;

  // `threads` handler threads (0: the io thread runs handlers) with at most
  // `queue_max` requests waiting; `drain` runs on the io thread whenever
  // answers wait, and takes them with take(). With threads and a `relief`
  // (io_relief.h), a turn's jobs run on the io thread's own thread while
  // the relief allows it, and go to the threads when it does not.
  void start(uint32_t threads, uint32_t queue_max, std::function<void()> drain,
             IoRelief* relief = nullptr);
  // The handler of `endpoint` for every job from now on (null: that
  // endpoint's jobs end in no_handler).
  void set_handler(const std::string& endpoint, AsyncHandler handler);
  // Runs the handler on each job; the answers reach drain(), never inside
  // this call. `self` names this node in an overloaded answer.
  void dispatch(std::vector<HandlerJob> jobs, const std::string& self);
  // The answers that came since the last take().
  Outcomes take();
  // On the io thread: hands the collected jobs to the pool, or, with
  // `may_inline` (the relief's owner between completions), runs them here
  // while the relief allows it. dispatch() posts it without.
  void flush(bool may_inline);
  // After a take-over (any thread): the stuck inline run's handlers not
  // started yet go to the pool now, not after the stuck one.
  void release_inline_rest();
  // Handlers running now finish (their answers still arrive); queued
  // ones never run.
  void stop();
  // From now on answers reach nothing.
  void close();
  // Handler runs from start to answer, and the waits for a thread (any
  // thread may read them).
  LatencyHistogram handler_duration() const;
  LatencyHistogram queue_wait() const;

 private:
  struct Shared {
    std::mutex mu;
    bool open = false;          // guarded by mu
    Outcomes outcomes;          // guarded by mu
    bool drain_posted = false;  // guarded by mu
    // The io thread is running handlers inline and takes the answers
    // right after: no post needed. Guarded by mu.
    bool inline_run = false;
    // Set at start: once it leads the io loop, an inline run no longer
    // takes the answers that come meanwhile.
    const IoRelief* relief = nullptr;
    asio::io_context* io = nullptr;
    std::function<void()> drain;       // set once, before any answer
    AtomicHistogram handler_duration;  // start to answer
    AtomicHistogram queue_wait;        // dispatch to start
  };
  using Clock = std::chrono::steady_clock;
  // The outcome of job `job`, from whichever thread, to the io thread;
  // with `started` (the handler's start), its duration is recorded.
  Reply::Deliver deliver(uint64_t job, Clock::time_point started = {}) const;
  void run_inline(std::vector<std::function<void()>> tasks);
  // The handler's run on each job, as tasks for the pool or the io thread.
  std::vector<std::function<void()>> tasks_for(std::vector<HandlerJob>& jobs);
  // Queues the tasks (of jobs `ids`) in the pool; the ones that do not fit
  // are answered overloaded. Any thread.
  void queue(std::vector<std::function<void()>>& tasks, const std::vector<uint64_t>& ids,
             const std::string& self);
  // The tasks of one inline run, claimed one by one by the owner; after a
  // take-over the relief claims the rest at once for the pool.
  struct InlineBatch {
    std::vector<std::function<void()>> tasks;
    std::vector<uint64_t> ids;
    std::string self;
    std::atomic<size_t> next{0};
  };
  // Claims every task of `batch` not started yet, for the pool.
  void release(InlineBatch& batch);
  // Runs the tasks here, with the relief watching. Returns whether the
  // owner still holds the io loop; if not, the caller touches no io state.
  bool run_relieved(std::vector<std::function<void()>> tasks, std::vector<uint64_t> ids);
  // Queues outcomes for the io thread, posting a drain if none is pending.
  static void hand_over(const std::shared_ptr<Shared>& shared, Outcomes& outcomes);
  // A pool thread's batch: its answers gathered, handed over at the end.
  void batch_begins() const;
  void batch_ends() const;
  // After each task of a batch: hands the gathered answers over now if the
  // oldest has waited long enough (slow handlers answer one by one).
  void hand_over_if_waiting() const;

  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::unique_ptr<HandlerPool> pool_;  // null: handlers on the io thread
  IoRelief* relief_ = nullptr;         // null: every job goes to the pool
  uint32_t queue_max_ = 0;
  // Jobs dispatched in this turn of the io loop (io thread only).
  std::vector<HandlerJob> pending_;
  bool flush_posted_ = false;
  std::string self_;  // names this node in an overloaded answer
  std::mutex inline_mu_;
  std::shared_ptr<InlineBatch> inline_batch_;  // the inline run's; guarded by inline_mu_
  // Copied on write: a dispatch takes the current map with one lock.
  using Handlers = std::map<std::string, std::shared_ptr<const AsyncHandler>, std::less<>>;
  std::mutex handler_mu_;
  std::shared_ptr<const Handlers> handlers_ =
      std::make_shared<Handlers>();  // guarded by handler_mu_
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_HANDLER_GATE_H_
