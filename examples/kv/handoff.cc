// Copyright shoal authors. See handoff.h.

#include "handoff.h"

#include <algorithm>
#include <utility>

namespace kv {

Handoff::Handoff(Push push) : push_(std::move(push)), thread_([this] { run(); }) {}

Handoff::~Handoff() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Handoff::add(const std::string& member, const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  {
    std::lock_guard lock(mu_);
    Queue& q = queues_[member];
    for (const Entry& e : entries) {
      auto [it, added] = q.entries.try_emplace(e.key, e);
      if (added) {
        ++pending_;
      } else if (it->second.version < e.version) {
        it->second = e;
      }
    }
  }
  cv_.notify_all();
}

void Handoff::keep_only(const std::set<std::string>& members) {
  std::lock_guard lock(mu_);
  for (auto it = queues_.begin(); it != queues_.end();) {
    if (members.count(it->first) != 0) {
      ++it;
      continue;
    }
    pending_ -= it->second.entries.size();
    it = queues_.erase(it);
  }
  if (pending_ == 0) cv_.notify_all();
}

size_t Handoff::pending() const {
  std::lock_guard lock(mu_);
  return pending_;
}

bool Handoff::wait_empty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return pending_ == 0; });
}

// Round robin: the scan starts after the member served last, so a member
// with much to take does not hold up the others.
bool Handoff::take_due(std::string& member, std::vector<Entry>& batch, Clock::time_point& next) {
  const auto now = Clock::now();
  next = Clock::time_point::max();
  auto start = queues_.upper_bound(member);
  for (size_t n = 0; n < queues_.size(); ++n, ++start) {
    if (start == queues_.end()) start = queues_.begin();
    Queue& q = start->second;
    if (q.entries.empty()) continue;
    if (q.due > now) {
      next = std::min(next, q.due);
      continue;
    }
    member = start->first;
    batch.clear();
    size_t bytes = 0;
    for (auto it = q.entries.begin();
         it != q.entries.end() && batch.size() < kBatchEntries && bytes < kBatchBytes; ++it) {
      batch.push_back(it->second);
      bytes += it->second.key.size() + it->second.value.size();
    }
    return true;
  }
  return false;
}

void Handoff::done(const std::string& member, const std::vector<Entry>& batch, bool ok) {
  auto it = queues_.find(member);
  if (it == queues_.end()) return;  // dropped meanwhile
  Queue& q = it->second;
  if (!ok) {
    q.backoff = std::clamp(q.backoff * 2, kBackoffMin, kBackoffMax);
    q.due = Clock::now() + q.backoff;
    return;
  }
  q.backoff = std::chrono::milliseconds(0);
  q.due = {};
  for (const Entry& e : batch) {
    auto at = q.entries.find(e.key);
    // A newer version that came meanwhile stays queued.
    if (at != q.entries.end() && at->second.version == e.version) {
      q.entries.erase(at);
      --pending_;
    }
  }
  if (q.entries.empty()) queues_.erase(it);
  if (pending_ == 0) cv_.notify_all();
}

void Handoff::run() {
  std::unique_lock lock(mu_);
  std::string member;
  std::vector<Entry> batch;
  while (!stopping_) {
    Clock::time_point next;
    if (!take_due(member, batch, next)) {
      if (next == Clock::time_point::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, next);
      }
      continue;
    }
    lock.unlock();
    const bool ok = push_(member, batch);
    lock.lock();
    if (ok) {
      pushed_ += batch.size();
    } else {
      ++failed_;
    }
    done(member, batch, ok);
  }
}

}  // namespace kv
