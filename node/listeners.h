// Copyright shoal authors. The listener registry: the app's member-change
// and ring-change listeners and its leave hooks, and how each is run.
//
// Registered from any thread; the list is copied on write under one mutex,
// and the io thread takes the current copy once per batch of events, so it
// never holds the lock while a listener runs. A listener with an executor
// gets each call through it; without one it runs on the io thread. Every
// call is guarded: what a listener throws is caught, counted
// (callback_errors) and logged, and the node carries on.
//
// Thread safety: add/remove/on_leave from any thread; notify_* and
// run_leave_hooks on the io thread.

#ifndef SHOAL_NODE_LISTENERS_H_
#define SHOAL_NODE_LISTENERS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "shoal/node/app_router.h"
#include "shoal/node/events.h"
#include "shoal/node/log.h"

namespace shoal::node {

class Listeners {
 public:
  using MemberCallback = std::function<void(const MemberEvent&)>;
  using RingCallback = std::function<void(const RingChange&)>;
  using AppCallback = std::function<void(const AppMessage&)>;

  // `errors` counts what listeners and executors threw on the io thread
  // (one run by an executor elsewhere is logged).
  Listeners(NodeLog& log, uint64_t& errors) : log_(log), errors_(errors) {}

  ListenerId add_member(MemberCallback callback, Executor executor);
  ListenerId add_ring(RingCallback callback, Executor executor);
  ListenerId add_app(AppCallback callback, Executor executor);
  void remove(ListenerId id);
  void add_leave_hooks(std::function<void()> before, std::function<void()> after);

  void notify_member(const MemberEvent& e);
  void notify_ring(const RingChange& change);
  void notify_app(const AppMessage& message);
  enum class LeavePhase { kBefore, kAfter };
  void run_leave_hooks(LeavePhase phase);

  // Runs an application callback here: whatever it throws is caught,
  // counted and logged.
  template <class F, class... Arg>
  void guarded(F& callback, const Arg&... arg) {
    if (!callback) return;
    try {
      callback(arg...);
    } catch (const std::exception& e) {
      ++errors_;
      log_.error("a callback threw: {}", e.what());
    } catch (...) {
      ++errors_;
      log_.error("a callback threw");
    }
  }

 private:
  struct Member {
    ListenerId id;
    MemberCallback callback;
    Executor executor;
  };
  struct Ring {
    ListenerId id;
    RingCallback callback;
    Executor executor;
  };
  struct App {
    ListenerId id;
    AppCallback callback;
    Executor executor;
  };
  struct Hooks {
    std::function<void()> before, after;
  };
  struct List {
    std::vector<Member> member;
    std::vector<Ring> ring;
    std::vector<App> app;
    std::vector<Hooks> leave;
  };
  std::shared_ptr<const List> current() const;
  // Applies `change` to a copy of the list and publishes it.
  ListenerId change(const std::function<void(List&, ListenerId)>& change);
  template <class F, class Arg>
  void run(F& callback, const Executor& executor, const Arg& arg);

  NodeLog& log_;
  uint64_t& errors_;
  mutable std::mutex mu_;
  std::shared_ptr<const List> list_ = std::make_shared<List>();  // guarded by mu_
  ListenerId next_id_ = 1;                                       // guarded by mu_
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_LISTENERS_H_
