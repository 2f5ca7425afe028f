// Copyright shoal authors. Leaving: a graceful leave in two bounded
// phases, then the stop.
//
//   begin_leave --> before-hooks, drain: label draining=true (every ring drops
//                   |                    this node; forwarded requests answered
//                   |                    shutting_down, their senders look again)
//                   v  every 20 ms: label spread and no handler running? or drain_timeout
//                   leave: gossip `leave`
//                   v  every 20 ms: leave spread? or the leave timeout
//                   after-hooks, shutdown(): sockets closed, the io thread runs out of work
//
// A node alone (only itself alive or suspect) has no one to tell, and
// does not wait. On the io thread.

#include "shoal/node/node_impl.h"

namespace shoal::node {

using std::chrono::steady_clock;

void Node::Impl::begin_leave(std::chrono::milliseconds timeout) {
  if (engine->core().leaving() || engine->draining()) return;
  log.info("leaving the cluster: draining first");
  listeners.run_leave_hooks(Listeners::LeavePhase::kBefore);
  engine->drain(mono_now());
  pump();
  poll_drain(steady_clock::now() + opts.drain_timeout, timeout);
}

void Node::Impl::poll_drain(steady_clock::time_point deadline,
                            std::chrono::milliseconds leave_timeout) {
  const size_t handling = engine->forwarder().jobs_in_flight();
  // Alone (only itself alive or suspect), there is no one to tell.
  const bool spread = engine->core().self_disseminated() || engine->core().pingable_count() <= 1;
  if ((handling == 0 && spread) || steady_clock::now() >= deadline) {
    if (handling > 0) log.warn("drain timed out with {} handlers running", handling);
    engine->leave(mono_now());
    pump();
    return poll_leave(steady_clock::now() + leave_timeout);
  }
  leave_timer.expires_after(std::chrono::milliseconds(20));
  leave_timer.async_wait([this, deadline, leave_timeout](const asio::error_code& ec) {
    if (!ec) poll_drain(deadline, leave_timeout);
  });
}

void Node::Impl::poll_leave(steady_clock::time_point deadline) {
  // Alone (once it has left, this node is not pingable itself): no one to tell.
  const bool spread = engine->core().leave_disseminated() || engine->core().pingable_count() == 0;
  if (spread || steady_clock::now() >= deadline) {
    log.info("left ({})", spread ? "leave disseminated" : "timed out");
    listeners.run_leave_hooks(Listeners::LeavePhase::kAfter);
    shutdown();
    return;
  }
  leave_timer.expires_after(std::chrono::milliseconds(20));
  leave_timer.async_wait([this, deadline](const asio::error_code& ec) {
    if (!ec) poll_leave(deadline);
  });
}

// On the io thread: close everything; the io thread then runs out of work.
void Node::Impl::shutdown() {
  engine->shutdown();  // every request in progress still gets its one result
  links.close_all();
  udp.close();
  tcp.close();
  metrics.close();
  protocol_timer.cancel();
  forward_timer.cancel();
  leave_timer.cancel();
  io.stop();
}

}  // namespace shoal::node
