// Copyright shoal authors. See handler_gate.h.

#include "shoal/node/handler_gate.h"

#include <asio/post.hpp>
#include <chrono>

namespace shoal::node {

HandlerGate::HandlerGate(asio::io_context& io) { shared_->io = &io; }

void HandlerGate::start(uint32_t threads, uint32_t queue_max, std::function<void()> drain) {
  queue_max_ = queue_max;
  if (threads > 0) pool_ = std::make_unique<HandlerPool>(threads, queue_max);
  std::lock_guard lock(shared_->mu);
  shared_->drain = std::move(drain);
  shared_->open = true;
}

void HandlerGate::set_handler(AsyncHandler handler) {
  auto h = handler ? std::make_shared<const AsyncHandler>(std::move(handler)) : nullptr;
  std::lock_guard lock(handler_mu_);
  handler_ = std::move(h);
}

Reply::Deliver HandlerGate::deliver(uint64_t job) const {
  return [shared = shared_, job](HandlerOutcome outcome) {
    std::lock_guard lock(shared->mu);
    if (!shared->open) return;
    shared->outcomes.emplace_back(job, std::move(outcome));
    if (shared->drain_posted || shared->inline_run) return;
    shared->drain_posted = true;
    asio::post(*shared->io, [shared] { shared->drain(); });
  };
}

HandlerGate::Outcomes HandlerGate::take() {
  Outcomes batch;
  std::lock_guard lock(shared_->mu);
  batch.swap(shared_->outcomes);
  shared_->drain_posted = false;
  return batch;
}

void HandlerGate::run_inline(std::vector<std::function<void()>>& tasks) {
  {
    std::lock_guard lock(shared_->mu);
    shared_->inline_run = true;
  }
  for (auto& task : tasks) task();
  {
    std::lock_guard lock(shared_->mu);
    shared_->inline_run = false;
  }
  shared_->drain();
}

void HandlerGate::dispatch(std::vector<HandlerJob> jobs, const std::string& self) {
  if (jobs.empty()) return;
  std::shared_ptr<const AsyncHandler> h;
  {
    std::lock_guard lock(handler_mu_);
    h = handler_;
  }
  std::vector<std::function<void()>> tasks;
  tasks.reserve(jobs.size());
  for (HandlerJob& job : jobs) {
    auto task = [h, request = std::move(job.request), deliver = deliver(job.id)]() mutable {
      const bool expired = std::chrono::steady_clock::now() >= request.deadline;
      run_request(h.get(), std::move(request), expired, std::move(deliver));
    };
    tasks.emplace_back(std::move(task));
  }
  if (!pool_) return run_inline(tasks);
  const size_t queued = pool_->submit_all(tasks);
  for (size_t i = queued; i < jobs.size(); ++i) {
    deliver(jobs[i].id)({HandlerOutcome::Kind::kOverloaded,
                         std::to_string(queue_max_) + " requests wait for the handler on " + self});
  }
}

void HandlerGate::stop() {
  if (pool_) pool_->stop();
}

void HandlerGate::close() {
  std::lock_guard lock(shared_->mu);
  shared_->open = false;
}

}  // namespace shoal::node
