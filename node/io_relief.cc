// Copyright shoal authors. See io_relief.h.

#include "shoal/node/io_relief.h"

#include <asio/post.hpp>
#include <cassert>
#include <exception>

namespace shoal::node {

namespace {

// The relief whose owner this thread is, and the one whose inline run this
// thread is in (a handler of one node may call another node).
thread_local const IoRelief* owned_here = nullptr;
thread_local IoRelief* inline_of = nullptr;
// After a take-over, handlers go to the handler threads for this long.
constexpr auto kCoolDown = std::chrono::seconds(1);
// Polls without an inline run before the relief thread sleeps (the owner
// wakes it with the next run).
constexpr int kQuietPolls = 4;

}  // namespace

void IoRelief::start(std::chrono::microseconds after) {
  if (after.count() <= 0 || thread_.joinable()) return;
  after_ = after;
  enabled_ = true;
  thread_ = std::thread([this] { watch(); });
}

void IoRelief::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  back_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void IoRelief::set_owner() {
  std::lock_guard lock(mu_);
  owner_ = std::this_thread::get_id();
  owned_here = this;
}

bool IoRelief::inline_here() { return inline_of != nullptr; }

bool IoRelief::inline_run_here() const { return inline_of == this; }

void IoRelief::hurry_current() {
  if (inline_of) inline_of->hurry();
}

bool IoRelief::owner_flushes() const { return enabled() && owned_here == this; }

bool IoRelief::may_run_inline() const {
  if (owned_here != this || !enabled_) return false;
  if (mode(state_.load(std::memory_order_relaxed)) != kOwner) return false;
  const int64_t now = Clock::now().time_since_epoch().count();
  return now >= cool_until_ns_.load(std::memory_order_relaxed);
}

void IoRelief::begin_inline() {
  assert(owned_here == this && "only the owner runs inline");
  assert(!io_.get_executor().running_in_this_thread() && "only between completions");
  ++runs_;
  inline_of = this;
  // seq_cst both here and in watch(): either the relief thread sees this
  // run, or this sees it asleep and wakes it.
  state_.store((runs_ << 2) | kInline);
  if (watching_.load()) return;
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  wake_cv_.notify_one();
}

bool IoRelief::end_inline() {
  inline_of = nullptr;
  uint64_t expected = (runs_ << 2) | kInline;
  return state_.compare_exchange_strong(expected, (runs_ << 2) | kOwner);
}

void IoRelief::hurry() {
  {
    std::lock_guard lock(mu_);
    hurry_ = true;
    wake_ = true;
  }
  wake_cv_.notify_one();
}

void IoRelief::take_back() {
  give_back_.store(true);
  asio::post(io_, [] {});  // wakes the relief thread out of its wait for completions
  std::unique_lock lock(mu_);
  back_cv_.wait(lock, [this] { return !taken() || stopping_; });
}

void IoRelief::watch() {
  std::unique_lock lock(mu_);
  uint64_t seen = 0;
  int quiet = 0;
  while (!stopping_) {
    watching_.store(true);
    while (!stopping_ && poll(lock, seen, quiet)) {
    }
    // Asleep: then the owner wakes this at its next run's start. A run that
    // began before it could see watching_ false is seen here.
    watching_.store(false);
    if (mode(state_.load()) == kInline) continue;
    wake_cv_.wait(lock, [this] { return wake_ || stopping_; });
    wake_ = false;
    quiet = 0;
  }
}

bool IoRelief::poll(std::unique_lock<std::mutex>& lock, uint64_t& seen, int& quiet) {
  wake_cv_.wait_for(lock, after_, [this] { return hurry_ || stopping_; });
  if (stopping_) return false;
  const bool hurried = hurry_;
  hurry_ = false;
  wake_ = false;
  uint64_t s = state_.load();
  if (s >> 2 != seen >> 2) quiet = 0;  // runs happened since the last poll
  if (mode(s) == kInline && (hurried || s == seen)) {
    // Stuck in this run since the last poll (or waiting for the loop).
    if (state_.compare_exchange_strong(s, (s & ~uint64_t{3}) | kRelief)) {
      lock.unlock();
      lead();
      lock.lock();
      seen = 0;
      quiet = 0;
      return true;
    }
  }
  seen = s;
  return ++quiet <= kQuietPolls || mode(s) == kInline;
}

void IoRelief::lead() {
  takeovers_.fetch_add(1, std::memory_order_relaxed);
  hooks_.set_io_thread(std::this_thread::get_id());
  if (hooks_.on_take) hooks_.on_take();
  while (!io_.stopped() && !give_back_.load()) {
    try {
      if (io_.run_one() == 0) break;
    } catch (const std::exception& e) {
      hooks_.on_exception(e.what());
    } catch (...) {
      hooks_.on_exception("unknown");
    }
  }
  std::thread::id owner;
  {
    std::lock_guard lock(mu_);
    owner = owner_;
  }
  hooks_.set_io_thread(owner);
  // The cool-down runs from the hand-back: a lead longer than it must not
  // let the very next turn run inline again.
  const auto cool = Clock::now() + kCoolDown;
  cool_until_ns_.store(cool.time_since_epoch().count(), std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    give_back_.store(false);
    hurry_ = false;                              // meant for the run taken over, not a later one
    state_.store(state_.load() & ~uint64_t{3});  // kOwner, same run count
  }
  back_cv_.notify_all();
}

}  // namespace shoal::node
