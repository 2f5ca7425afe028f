// A forwarder in virtual time for tests (tests/node/engine_test.cc,
// directed_test.cc): no sockets, the handler run at once.

#ifndef SHOAL_TESTS_NODE_FORWARDER_HARNESS_H_
#define SHOAL_TESTS_NODE_FORWARDER_HARNESS_H_

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shoal/node/forwarder.h"
#include "shoal/proto/codec.h"
#include "shoal/ring/publisher.h"

namespace shoal::node {

using std::chrono::milliseconds;

inline Instant at_ms(int64_t ms) { return Instant(milliseconds(ms)); }

// A forwarder on "a:1" whose ring holds a:1 and b:1, and keys owned by each.
struct Harness {
  ring::RingPublisher ring;
  Forwarder fw;
  std::string local_key;   // owned by a:1
  std::string remote_key;  // owned by b:1
  std::vector<ForwardResult> results;
  RequestHandler handler;
  AsyncHandler async_handler;  // if set, runs instead of `handler`

  explicit Harness(ForwarderOptions o = {}, std::vector<std::string> members = {"a:1", "b:1"})
      : ring(make_ring(std::move(members))), fw("a:1", o, ring) {
    for (int i = 0; local_key.empty() || remote_key.empty(); ++i) {
      const std::string k = "k" + std::to_string(i);
      (ring.current()->lookup(k) == "a:1" ? local_key : remote_key) = k;
    }
    handler = [](std::string_view key, std::string_view payload) {
      return HandlerResult{true, std::string(key) + "=" + std::string(payload)};
    };
  }
  void set_handler(RequestHandler h) { handler = std::move(h); }
  // Runs the handler on every job the forwarder made, at once, as an
  // executor would (none set: no_handler).
  void run_jobs(Instant now) {
    for (auto jobs = fw.take_jobs(); !jobs.empty(); jobs = fw.take_jobs()) {
      const AsyncHandler async = async_handler ? async_handler
                                 : handler     ? adapt(handler)
                                               : AsyncHandler();
      for (HandlerJob& j : jobs) {
        run_request(async ? &async : nullptr, std::move(j.request), false,
                    [&, id = j.id](HandlerOutcome o) { fw.on_job_done(id, std::move(o), now); });
      }
    }
  }
  // A served request's answer (the handler run at once).
  proto::ForwardResponse serve(const proto::ForwardRequest& r, bool leaving, Instant received,
                               Instant now) {
    std::optional<proto::ForwardResponse> out;
    fw.serve(r, leaving, received, now, [&out](const proto::ForwardResponse& a) { out = a; });
    run_jobs(now);
    EXPECT_TRUE(out.has_value());
    return out.value_or(proto::ForwardResponse{});
  }
  proto::ForwardResponse serve(const proto::ForwardRequest& r, bool leaving, Instant now) {
    return serve(r, leaving, now, now);
  }
  static std::shared_ptr<const ring::Ring> make_ring(std::vector<std::string> members) {
    ring::RingBuilder b;
    for (const auto& m : members) (void)b.add(m);
    return b.build();
  }
  void forward(const std::string& key, Instant now, ForwardOptions o = {}) {
    fw.forward(
        key, "p", o, [this](ForwardResult r) { results.push_back(std::move(r)); }, now);
    run_jobs(now);
  }
  // Runs the forwarder's timers up to `until`, as a driver would.
  void run_until(Instant until) {
    while (fw.next_deadline() <= until) {
      const Instant t = fw.next_deadline();
      fw.tick(t);
      run_jobs(t);
    }
  }
  proto::ForwardResponse ok_answer() { return proto::ForwardResponse{0, "", "v", "b:1"}; }
};

}  // namespace shoal::node

#endif  // SHOAL_TESTS_NODE_FORWARDER_HARNESS_H_
