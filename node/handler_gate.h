// Copyright shoal authors. The handler gate: how requests for this node's
// keys reach the application's handler, and how its answers come back to
// the io thread.
//
//   io thread: dispatch(jobs) --threads > 0--> HandlerPool (queued together;
//              |                                what does not fit: overloaded)
//              `--threads 0----> run here, on the io thread
//   any thread: Reply::ok/fail --> outcomes queue --one post per batch--> io thread:
//                                                   drain() --> take() --> engine
//
// Under load one wake-up of the io thread carries many answers: an answer
// posts a drain only if none is pending. Handlers run inline (threads 0)
// are taken right after they run, without a trip through the io queue.
// After close() (the node is going), late answers reach nothing.
//
// Thread safety: set_handler() and answers from any thread; the rest on
// the io thread.

#ifndef SHOAL_NODE_HANDLER_GATE_H_
#define SHOAL_NODE_HANDLER_GATE_H_

#include <asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "shoal/node/forwarder.h"
#include "shoal/node/handler.h"
#include "shoal/node/handler_pool.h"

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
  // answers wait, and takes them with take().
  void start(uint32_t threads, uint32_t queue_max, std::function<void()> drain);
  // The handler for every job from now on (null: jobs end in no_handler).
  void set_handler(AsyncHandler handler);
  // Runs the handler on each job; the answers reach drain(), never inside
  // this call. `self` names this node in an overloaded answer.
  void dispatch(std::vector<HandlerJob> jobs, const std::string& self);
  // The answers that came since the last take().
  Outcomes take();
  // Handlers running now finish (their answers still arrive); queued
  // ones never run.
  void stop();
  // From now on answers reach nothing.
  void close();

 private:
  struct Shared {
    std::mutex mu;
    bool open = false;          // guarded by mu
    Outcomes outcomes;          // guarded by mu
    bool drain_posted = false;  // guarded by mu
    // The io thread is running handlers inline and takes the answers
    // right after: no post needed. Guarded by mu.
    bool inline_run = false;
    asio::io_context* io = nullptr;
    std::function<void()> drain;  // set once, before any answer
  };
  // The outcome of job `job`, from whichever thread, to the io thread.
  Reply::Deliver deliver(uint64_t job) const;
  void run_inline(std::vector<std::function<void()>>& tasks);

  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::unique_ptr<HandlerPool> pool_;  // null: handlers on the io thread
  uint32_t queue_max_ = 0;
  std::mutex handler_mu_;
  std::shared_ptr<const AsyncHandler> handler_;  // guarded by handler_mu_
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_HANDLER_GATE_H_
