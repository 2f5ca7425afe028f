// Copyright shoal authors. See handler_gate.h.

#include "shoal/node/handler_gate.h"

#include <asio/post.hpp>
#include <chrono>

namespace shoal::node {

namespace {

// The answers a pool thread's handlers give during its current batch, for
// the gate whose batch it is (null: not in a batch).
struct Gathered {
  const void* owner = nullptr;
  HandlerGate::Outcomes outcomes;
  std::chrono::steady_clock::time_point first_at;  // of the oldest gathered answer
};
thread_local Gathered gathered;
// A gathered answer waits at most this long for the batch to end: a batch
// of slow handlers hands each answer over as it comes.
constexpr auto kGatherMax = std::chrono::microseconds(200);

}  // namespace

HandlerGate::HandlerGate(asio::io_context& io) { shared_->io = &io; }

void HandlerGate::start(uint32_t threads, uint32_t queue_max, std::function<void()> drain,
                        IoRelief* relief) {
  queue_max_ = queue_max;
  if (threads > 0) {
    relief_ = relief;
    pool_ = std::make_unique<HandlerPool>(
        threads, queue_max,
        HandlerPool::BatchHooks{[this] { batch_begins(); }, [this] { batch_ends(); }});
  }
  std::lock_guard lock(shared_->mu);
  shared_->relief = relief_;
  shared_->drain = std::move(drain);
  shared_->open = true;
}

void HandlerGate::set_handler(const std::string& endpoint, AsyncHandler handler) {
  auto h = handler ? std::make_shared<const AsyncHandler>(std::move(handler)) : nullptr;
  std::lock_guard lock(handler_mu_);
  auto next = std::make_shared<Handlers>(*handlers_);
  if (h) {
    (*next)[endpoint] = std::move(h);
  } else {
    next->erase(endpoint);
  }
  handlers_ = std::move(next);
}

Reply::Deliver HandlerGate::deliver(uint64_t job, Clock::time_point started) const {
  return [shared = shared_, job, started](HandlerOutcome outcome) {
    if (started != Clock::time_point{}) shared->handler_duration.observe(Clock::now() - started);
    if (gathered.owner == shared.get()) {  // in this gate's batch: handed over at its end
      if (gathered.outcomes.empty()) gathered.first_at = std::chrono::steady_clock::now();
      gathered.outcomes.emplace_back(job, std::move(outcome));
      return;
    }
    Outcomes one;
    one.emplace_back(job, std::move(outcome));
    hand_over(shared, one);
  };
}

void HandlerGate::hand_over(const std::shared_ptr<Shared>& shared, Outcomes& outcomes) {
  std::lock_guard lock(shared->mu);
  if (!shared->open) return outcomes.clear();
  if (shared->outcomes.empty()) {
    shared->outcomes.swap(outcomes);
  } else {
    for (auto& o : outcomes) shared->outcomes.push_back(std::move(o));
    outcomes.clear();
  }
  if (shared->drain_posted) return;
  if (shared->inline_run && !(shared->relief && shared->relief->moved())) return;
  shared->drain_posted = true;
  asio::post(*shared->io, [shared] { shared->drain(); });
}

void HandlerGate::batch_begins() const { gathered.owner = shared_.get(); }

void HandlerGate::hand_over_if_waiting() const {
  if (gathered.owner != shared_.get() || gathered.outcomes.empty()) return;
  if (std::chrono::steady_clock::now() - gathered.first_at < kGatherMax) return;
  hand_over(shared_, gathered.outcomes);
}

void HandlerGate::batch_ends() const {
  gathered.owner = nullptr;
  if (!gathered.outcomes.empty()) hand_over(shared_, gathered.outcomes);
}

HandlerGate::Outcomes HandlerGate::take() {
  Outcomes batch;
  std::lock_guard lock(shared_->mu);
  batch.swap(shared_->outcomes);
  shared_->drain_posted = false;
  return batch;
}

void HandlerGate::run_inline(std::vector<std::function<void()>> tasks) {
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
  if (!pool_) return run_inline(tasks_for(jobs));
  self_ = self;
  if (pending_.empty()) {
    pending_ = std::move(jobs);
  } else {
    for (HandlerJob& job : jobs) pending_.push_back(std::move(job));
  }
  // The owner's loop flushes right after this completion (io_driver.cc).
  if (flush_posted_ || (relief_ && relief_->owner_flushes())) return;
  // Behind the inputs already waiting on the io thread: their jobs join.
  // Inside a completion: never inline (io_relief.h).
  flush_posted_ = true;
  asio::post(*shared_->io, [this] { flush(false); });
}

std::vector<std::function<void()>> HandlerGate::tasks_for(std::vector<HandlerJob>& jobs) {
  std::shared_ptr<const Handlers> handlers;
  {
    std::lock_guard lock(handler_mu_);
    handlers = handlers_;
  }
  std::vector<std::function<void()>> tasks;
  tasks.reserve(jobs.size());
  for (HandlerJob& job : jobs) {
    auto it = handlers->find(job.request.endpoint);
    if (it == handlers->end()) {
      // No handler for it: answered here, with the endpoint named.
      std::string why = job.request.endpoint.empty()
                            ? std::string()
                            : "no handler for endpoint '" + job.request.endpoint + "'";
      Reply::Deliver d = deliver(job.id);
      tasks.emplace_back([d = std::move(d), why = std::move(why)] {
        d({HandlerOutcome::Kind::kNoHandler, why});
      });
      continue;
    }
    std::shared_ptr<const AsyncHandler> h = it->second;
    auto task = [this, h, request = std::move(job.request), id = job.id,
                 queued = Clock::now()]() mutable {
      const auto started = Clock::now();
      shared_->queue_wait.observe(started - queued);
      const bool expired = started >= request.deadline;
      run_request(h.get(), std::move(request), expired,
                  deliver(id, expired ? Clock::time_point{} : started));
      hand_over_if_waiting();
    };
    tasks.emplace_back(std::move(task));
  }
  return tasks;
}

void HandlerGate::flush(bool may_inline) {
  flush_posted_ = false;
  // An inline run's answers may dispatch more jobs: they run too.
  while (!pending_.empty() && pool_) {
    std::vector<HandlerJob> jobs = std::move(pending_);
    pending_.clear();
    auto tasks = tasks_for(jobs);
    std::vector<uint64_t> ids;
    ids.reserve(jobs.size());
    for (const HandlerJob& job : jobs) ids.push_back(job.id);
    if (!may_inline || !relief_ || !relief_->may_run_inline()) return queue(tasks, ids, self_);
    if (!run_relieved(std::move(tasks), std::move(ids))) return;  // the relief leads now
  }
}

void HandlerGate::queue(std::vector<std::function<void()>>& tasks, const std::vector<uint64_t>& ids,
                        const std::string& self) {
  const size_t queued = pool_->submit_all(tasks);
  if (queued == ids.size()) return;
  Outcomes refused;
  for (size_t i = queued; i < ids.size(); ++i) {
    refused.emplace_back(ids[i], HandlerOutcome{HandlerOutcome::Kind::kOverloaded,
                                                std::to_string(queue_max_) +
                                                    " requests wait for the handler on " + self});
  }
  hand_over(shared_, refused);
}

void HandlerGate::release(InlineBatch& batch) {
  const size_t from = batch.next.exchange(batch.tasks.size());
  if (from >= batch.tasks.size()) return;
  // Moved out one by one: the owner may still run tasks[from - 1], so the
  // vector itself must not change.
  std::vector<std::function<void()>> rest;
  rest.reserve(batch.tasks.size() - from);
  for (size_t i = from; i < batch.tasks.size(); ++i) rest.push_back(std::move(batch.tasks[i]));
  const std::vector<uint64_t> ids(batch.ids.begin() + static_cast<ptrdiff_t>(from),
                                  batch.ids.end());
  queue(rest, ids, batch.self);
}

void HandlerGate::release_inline_rest() {
  std::shared_ptr<InlineBatch> batch;
  {
    std::lock_guard lock(inline_mu_);
    batch = inline_batch_;
  }
  if (batch) release(*batch);
}

bool HandlerGate::run_relieved(std::vector<std::function<void()>> tasks,
                               std::vector<uint64_t> ids) {
  auto batch = std::make_shared<InlineBatch>();
  batch->tasks = std::move(tasks);
  batch->ids = std::move(ids);
  batch->self = self_;  // io state: not to be read once the relief leads
  {
    std::lock_guard lock(inline_mu_);
    inline_batch_ = batch;
  }
  {
    std::lock_guard lock(shared_->mu);
    shared_->inline_run = true;
  }
  // Ends the run however the loop below ends (a throw included): the owner
  // keeps the loop, or hands every task not started to the pool and lets
  // the relief take the answers.
  struct End {
    HandlerGate& gate;
    InlineBatch& batch;
    bool& still_io;
    ~End() {
      still_io = gate.relief_->end_inline();
      if (!still_io) gate.release(batch);
      {
        std::lock_guard lock(gate.inline_mu_);
        gate.inline_batch_.reset();
      }
      std::lock_guard lock(gate.shared_->mu);
      gate.shared_->inline_run = false;
      if (!still_io && !gate.shared_->outcomes.empty() && !gate.shared_->drain_posted) {
        gate.shared_->drain_posted = true;
        asio::post(*gate.shared_->io, [shared = gate.shared_] { shared->drain(); });
      }
    }
  };
  bool still_io = false;
  {
    End end{*this, *batch, still_io};
    relief_->begin_inline();
    for (size_t i = 0; (i = batch->next.fetch_add(1)) < batch->tasks.size();) {
      batch->tasks[i]();
      if (relief_->moved()) break;
    }
  }
  if (still_io) shared_->drain();
  return still_io;
}

LatencyHistogram HandlerGate::handler_duration() const {
  return shared_->handler_duration.snapshot();
}

LatencyHistogram HandlerGate::queue_wait() const { return shared_->queue_wait.snapshot(); }

void HandlerGate::stop() {
  if (pool_) pool_->stop();
}

void HandlerGate::close() {
  std::lock_guard lock(shared_->mu);
  shared_->open = false;
}

}  // namespace shoal::node
