// Copyright shoal authors. See listeners.h.

#include "shoal/node/listeners.h"

#include <utility>

namespace shoal::node {

std::shared_ptr<const Listeners::List> Listeners::current() const {
  std::lock_guard lock(mu_);
  return list_;
}

ListenerId Listeners::change(const std::function<void(List&, ListenerId)>& change) {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<List>(*list_);
  const ListenerId id = next_id_++;
  change(*next, id);
  list_ = std::move(next);
  return id;
}

ListenerId Listeners::add_member(MemberCallback callback, Executor executor) {
  return change([&](List& l, ListenerId id) {
    l.member.push_back({id, std::move(callback), std::move(executor)});
  });
}

ListenerId Listeners::add_ring(RingCallback callback, Executor executor) {
  return change([&](List& l, ListenerId id) {
    l.ring.push_back({id, std::move(callback), std::move(executor)});
  });
}

ListenerId Listeners::add_app(AppCallback callback, Executor executor) {
  return change([&](List& l, ListenerId id) {
    l.app.push_back({id, std::move(callback), std::move(executor)});
  });
}

void Listeners::remove(ListenerId id) {
  change([id](List& l, ListenerId) {
    std::erase_if(l.member, [id](const auto& m) { return m.id == id; });
    std::erase_if(l.ring, [id](const auto& r) { return r.id == id; });
    std::erase_if(l.app, [id](const auto& a) { return a.id == id; });
  });
}

void Listeners::add_leave_hooks(std::function<void()> before, std::function<void()> after) {
  change([&](List& l, ListenerId) { l.leave.push_back({std::move(before), std::move(after)}); });
}

// Through its executor, or here, guarded.
template <class F, class Arg>
void Listeners::run(F& callback, const Executor& executor, const Arg& arg) {
  if (!executor) return guarded(callback, arg);
  try {
    // The task may outlive the node: it keeps the logger, not the node.
    executor([callback, arg, logger = log_.logger(), prefix = log_.prefix()] {
      try {
        callback(arg);
      } catch (...) {
        logger->error("{}a listener run by its executor threw", prefix);
      }
    });
  } catch (...) {
    ++errors_;
    log_.error("a listener's executor threw");
  }
}

void Listeners::notify_member(const MemberEvent& e) {
  const auto list = current();
  for (const auto& l : list->member) run(l.callback, l.executor, e);
}

void Listeners::notify_ring(const RingChange& change) {
  const auto list = current();
  for (const auto& l : list->ring) run(l.callback, l.executor, change);
}

void Listeners::notify_app(const AppMessage& message) {
  const auto list = current();
  for (const auto& l : list->app) run(l.callback, l.executor, message);
}

void Listeners::run_leave_hooks(LeavePhase phase) {
  const auto list = current();
  for (const auto& h : list->leave) {
    guarded(phase == LeavePhase::kBefore ? h.before : h.after);
  }
}

}  // namespace shoal::node
