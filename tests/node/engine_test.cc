// The sans-I/O half of node/: the forwarder in virtual time (no sockets, no
// sleeps) and the counters table against docs/OPERATIONS.md.

#include "shoal/node/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "shoal.pb.h"
#include "shoal/node/counters.h"
#include "shoal/node/forwarder.h"
#include "shoal/proto/codec.h"
#include "shoal/ring/publisher.h"
#include "tests/node/forwarder_harness.h"

namespace shoal::node {
namespace {

using std::chrono::milliseconds;

TEST(Forwarder, OwnKeyRunsTheHandlerAtOnce) {
  Harness h;
  h.forward(h.local_key, at_ms(0));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0].ok());
  EXPECT_EQ(h.results[0].handled_by, "a:1");
  EXPECT_TRUE(h.fw.take_sends().empty());
  EXPECT_EQ(h.fw.stats().forwards_local, 1u);
}

TEST(Forwarder, AnswerFromTheOwnerEndsTheCallOnce) {
  Harness h;
  h.forward(h.remote_key, at_ms(0));
  auto sends = h.fw.take_sends();
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].peer, "b:1");
  EXPECT_EQ(sends[0].request.key, h.remote_key);
  EXPECT_EQ(sends[0].request.ring_checksum, h.ring.current()->checksum());
  EXPECT_EQ(sends[0].request.timeout_ms, 1000u);
  // An answer with this id from another peer is not this call's answer.
  h.fw.on_response("c:1", sends[0].id, h.ok_answer(), at_ms(1));
  EXPECT_TRUE(h.results.empty());
  h.fw.on_response("b:1", sends[0].id, h.ok_answer(), at_ms(2));
  h.fw.on_response("b:1", sends[0].id, h.ok_answer(), at_ms(3));  // a duplicate
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].payload, "v");
  EXPECT_EQ(h.fw.calls_in_progress(), 0u);
  EXPECT_EQ(h.fw.next_deadline(), membership::kNever);
}

// Budget 1 s, 3 retries: the first attempt waits a quarter (250 ms), the
// retry starts 10 ms later (backoff) and waits a third of what is left.
TEST(Forwarder, SilentOwnerIsRetriedWithinTheBudgetThenTimesOut) {
  Harness h;
  h.forward(h.remote_key, at_ms(0));
  ASSERT_EQ(h.fw.take_sends().size(), 1u);
  h.run_until(at_ms(249));
  EXPECT_TRUE(h.fw.take_sends().empty());
  h.run_until(at_ms(259));
  EXPECT_TRUE(h.fw.take_sends().empty());  // 250 ms: timed out; retry at 260
  h.run_until(at_ms(260));
  EXPECT_EQ(h.fw.take_sends().size(), 1u);
  h.run_until(at_ms(5000));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].error, ForwardError::kTimeout);
  EXPECT_EQ(h.results[0].attempts, 4);
  EXPECT_EQ(h.fw.stats().forwards_retried, 3u);
  EXPECT_EQ(h.fw.stats().forward_errors, 1u);
}

TEST(Forwarder, LinkFailureRetriesAndConsecutiveFailuresOpenTheCircuit) {
  Harness h(ForwarderOptions{4096, 2, milliseconds(1000)});
  h.fw.on_link_failed("b:1", "idle close", at_ms(0));  // nothing in flight: no failure
  h.forward(h.remote_key, at_ms(0), ForwardOptions{milliseconds(1000), 0});
  ASSERT_EQ(h.fw.take_sends().size(), 1u);
  h.fw.on_link_failed("b:1", "connection refused", at_ms(1));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].error, ForwardError::kOwnerUnreachable);
  EXPECT_EQ(h.fw.stats().breaker_opens, 0u);
  h.forward(h.remote_key, at_ms(2), ForwardOptions{milliseconds(1000), 0});
  h.fw.on_link_failed("b:1", "connection refused", at_ms(3));
  EXPECT_EQ(h.fw.stats().breaker_opens, 1u);
  // Open: fails at once, nothing sent.
  h.fw.take_sends();
  h.forward(h.remote_key, at_ms(4));
  EXPECT_TRUE(h.fw.take_sends().empty());
  ASSERT_EQ(h.results.size(), 3u);
  EXPECT_EQ(h.results[2].error, ForwardError::kCircuitOpen);
  // Half-open after 1 s: one trial goes out; its success closes the circuit.
  h.forward(h.remote_key, at_ms(1003));
  auto trial = h.fw.take_sends();
  ASSERT_EQ(trial.size(), 1u);
  h.fw.on_response("b:1", trial[0].id, h.ok_answer(), at_ms(1004));
  h.forward(h.remote_key, at_ms(1005));
  EXPECT_EQ(h.fw.take_sends().size(), 1u);
}

// A half-open trial that cannot go out (the peer is at its in-flight bound)
// must not leave the trial flag set: the circuit would stay open forever.
TEST(Forwarder, TrialRefusedForOverloadDoesNotWedgeTheCircuit) {
  Harness h(ForwarderOptions{1, 1, milliseconds(100)});
  h.forward(h.remote_key, at_ms(0), ForwardOptions{milliseconds(10000), 0});
  auto first = h.fw.take_sends();
  h.fw.on_link_failed("b:1", "reset", at_ms(1));  // 1 failure: open
  EXPECT_EQ(h.fw.stats().breaker_opens, 1u);
  // After 100 ms: a trial is in flight and not answered...
  h.forward(h.remote_key, at_ms(200), ForwardOptions{milliseconds(10000), 0});
  auto trial = h.fw.take_sends();
  ASSERT_EQ(trial.size(), 1u);
  // ...so the next request is refused (circuit open: the trial is out).
  h.forward(h.remote_key, at_ms(201), ForwardOptions{milliseconds(10000), 0});
  EXPECT_EQ(h.results.back().error, ForwardError::kCircuitOpen);
  h.fw.on_link_failed("b:1", "reset", at_ms(202));  // the trial failed: open again
  // Next half-open window: at the in-flight bound (1) nothing is in flight,
  // the trial goes out; it is answered; the circuit closes.
  h.forward(h.remote_key, at_ms(400), ForwardOptions{milliseconds(10000), 0});
  auto trial2 = h.fw.take_sends();
  ASSERT_EQ(trial2.size(), 1u);
  h.fw.on_response("b:1", trial2[0].id, h.ok_answer(), at_ms(401));
  h.forward(h.remote_key, at_ms(402), ForwardOptions{milliseconds(10000), 0});
  EXPECT_EQ(h.fw.take_sends().size(), 1u);
}

TEST(Forwarder, InFlightBoundGivesOverloadedErrors) {
  Harness h(ForwarderOptions{2, 5, milliseconds(1000)});
  for (int i = 0; i < 3; ++i) h.forward(h.remote_key, at_ms(0));
  EXPECT_EQ(h.fw.take_sends().size(), 2u);
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].error, ForwardError::kOverloaded);
}

TEST(Forwarder, NotOwnerAnswersAreRetriedWithAFreshLookup) {
  Harness h;
  h.forward(h.remote_key, at_ms(0));
  auto sends = h.fw.take_sends();
  // b:1 disowns the key; meanwhile our ring lost b:1, so the retry is local.
  h.fw.on_response("b:1", sends[0].id,
                   proto::ForwardResponse{static_cast<uint32_t>(ForwardError::kNotOwner),
                                          "owner is a:1", "", "b:1"},
                   at_ms(1));
  h.ring.publish(Harness::make_ring({"a:1"}));
  h.run_until(at_ms(100));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0].ok());
  EXPECT_EQ(h.results[0].handled_by, "a:1");
  EXPECT_EQ(h.results[0].attempts, 2);
}

// A rolling restart: the owner answers shutting_down until our ring drops
// it. Many such answers neither open its circuit nor use up the retries.
TEST(Forwarder, OwnerLeavingIsRetriedUntilTheRingDropsItWithoutOpeningTheCircuit) {
  Harness h;
  h.forward(h.remote_key, at_ms(0));
  const proto::ForwardResponse leaving{static_cast<uint32_t>(ForwardError::kShuttingDown),
                                       "node is leaving", "", "b:1"};
  int answered = 0;
  for (int t = 1; t < 400; ++t) {
    h.fw.tick(at_ms(t));
    for (auto& s : h.fw.take_sends()) {
      h.fw.on_response("b:1", s.id, leaving, at_ms(t));
      ++answered;
    }
  }
  EXPECT_GE(answered, 6);  // more than breaker_failures (5) and retries (2)
  EXPECT_TRUE(h.results.empty());
  h.ring.publish(Harness::make_ring({"a:1"}));  // the leave has spread
  h.run_until(at_ms(500));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_TRUE(h.results[0].ok()) << h.results[0].message;
  EXPECT_EQ(h.results[0].handled_by, "a:1");
  EXPECT_EQ(h.fw.stats().breaker_opens, 0u);
}

TEST(Forwarder, ServeChecksOwnershipAndCountsRingMismatches) {
  Harness h;
  const uint64_t checksum = h.ring.current()->checksum();
  auto r = h.serve(proto::ForwardRequest{h.local_key, "x", checksum, "b:1", 1000}, false, at_ms(0));
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.payload, h.local_key + "=x");
  EXPECT_EQ(h.fw.stats().forwards_ring_mismatch, 0u);
  r = h.serve(proto::ForwardRequest{h.remote_key, "x", checksum + 1, "b:1", 1000}, false, at_ms(0));
  EXPECT_EQ(r.error, static_cast<uint32_t>(ForwardError::kNotOwner));
  EXPECT_EQ(h.fw.stats().forwards_ring_mismatch, 1u);
  r = h.serve(proto::ForwardRequest{h.local_key, "x", checksum, "b:1", 1000}, true, at_ms(0));
  EXPECT_EQ(r.error, static_cast<uint32_t>(ForwardError::kShuttingDown));
  EXPECT_EQ(h.fw.stats().forwards_received, 3u);
}

// A retry of a request the owner already ran (its answer was lost) gets
// the same answer again; the handler does not run twice. After the
// request's budget the owner forgets it.
TEST(Forwarder, RetriedRequestRunsTheHandlerOnce) {
  Harness h;
  int runs = 0;
  h.set_handler([&runs](std::string_view, std::string_view) {
    ++runs;
    return HandlerResult{true, "run " + std::to_string(runs)};
  });
  const proto::ForwardRequest req{h.local_key, "x", 0, "b:1", 500, 77};
  EXPECT_EQ(h.serve(req, false, at_ms(0)).payload, "run 1");
  EXPECT_EQ(h.serve(req, false, at_ms(499)).payload, "run 1");
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(h.fw.stats().forwards_deduplicated, 1u);
  // Another sender's request 77 is another request.
  proto::ForwardRequest other = req;
  other.source = "c:1";
  EXPECT_EQ(h.serve(other, false, at_ms(1)).payload, "run 2");
  // Past the budget: forgotten (a sender that gave up does not retry).
  EXPECT_EQ(h.serve(req, false, at_ms(500)).payload, "run 3");
  // A request not run (not the owner) is not remembered.
  proto::ForwardRequest remote{h.remote_key, "x", 0, "b:1", 500, 78};
  EXPECT_EQ(h.serve(remote, false, at_ms(600)).error,
            static_cast<uint32_t>(ForwardError::kNotOwner));
  h.ring.publish(Harness::make_ring({"a:1"}));
  EXPECT_EQ(h.serve(remote, false, at_ms(601)).payload, "run 4");
}

// A request that waited out its budget at the owner (behind slow handlers,
// in one read with them) is answered timeout and not run: its sender has
// given up. Once run or not, the next one with budget left runs.
TEST(Forwarder, ExpiredRequestIsNotRun) {
  Harness h;
  int runs = 0;
  h.set_handler([&runs](std::string_view, std::string_view) {
    ++runs;
    return HandlerResult{true, "ran"};
  });
  const proto::ForwardRequest req{h.local_key, "x", 0, "b:1", 300, 5};
  auto r = h.serve(req, false, at_ms(100), at_ms(400));  // 300 ms since it came
  EXPECT_EQ(r.error, static_cast<uint32_t>(ForwardError::kTimeout));
  EXPECT_NE(r.error_message.find("300 ms budget ran out"), std::string::npos) << r.error_message;
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(h.fw.stats().forwards_expired, 1u);
  // Not remembered as run: a copy with budget left (a stray retry) runs.
  r = h.serve(req, false, at_ms(500), at_ms(799));
  EXPECT_EQ(r.payload, "ran");
  EXPECT_EQ(runs, 1);
  // No budget at all (timeout_ms 0, which no shoal sender sends) is expired.
  proto::ForwardRequest none{h.local_key, "x", 0, "b:1", 0, 6};
  EXPECT_EQ(h.serve(none, false, at_ms(900)).error, static_cast<uint32_t>(ForwardError::kTimeout));
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(h.fw.stats().forwards_expired, 2u);
}

// Attempts that time out while their peer answers other requests do not
// count against its circuit: the peer is up, those handlers are slow.
TEST(Forwarder, SlowAnswersFromALivePeerDoNotOpenItsCircuit) {
  for (bool answering : {true, false}) {
    Harness h(ForwarderOptions{4096, 2, milliseconds(1000)});
    for (int i = 0; i < 3; ++i) h.forward(h.remote_key, at_ms(0));
    auto sends = h.fw.take_sends();
    ASSERT_EQ(sends.size(), 3u);
    if (answering) h.fw.on_response("b:1", sends[0].id, h.ok_answer(), at_ms(100));
    h.run_until(at_ms(251));  // the other two attempts time out at 250 ms
    EXPECT_EQ(h.fw.stats().breaker_opens, answering ? 0u : 1u) << answering;
  }
}

// The owner's memory holds about the sender's requests in flight: each
// request says below which id every request of its sender has ended, and
// those answers are forgotten.
TEST(Forwarder, AnswersTheSenderHasSeenEndAreForgotten) {
  Harness h;
  int runs = 0;
  h.set_handler([&runs](std::string_view, std::string_view) {
    ++runs;
    return HandlerResult{true, "ok"};
  });
  proto::ForwardRequest first{h.local_key, "x", 0, "b:1", 60000, 10, 10};
  (void)h.serve(first, false, at_ms(0));
  proto::ForwardRequest second{h.local_key, "x", 0, "b:1", 60000, 11, 10};
  (void)h.serve(second, false, at_ms(1));
  (void)h.serve(first, false, at_ms(2));  // 10 still in flight: remembered
  EXPECT_EQ(runs, 2);
  second.acked_below = 11;  // 10 has ended at the sender
  (void)h.serve(second, false, at_ms(3));
  EXPECT_EQ(runs, 2);
  (void)h.serve(first, false, at_ms(4));  // a stray copy of 10 runs anew
  EXPECT_EQ(runs, 3);
  // A sender's first request acknowledges nothing before itself.
  h.forward(h.remote_key, at_ms(5));
  h.forward(h.remote_key, at_ms(6));
  auto sends = h.fw.take_sends();
  ASSERT_EQ(sends.size(), 2u);
  EXPECT_EQ(sends[0].request.acked_below, sends[0].request.request_id);
  EXPECT_EQ(sends[1].request.acked_below, sends[0].request.request_id);
}

// Sender side: every attempt of one call carries the same request id.
TEST(Forwarder, RetriesKeepTheRequestId) {
  Harness h(ForwarderOptions{4096, 5, milliseconds(1000), 1000});
  h.forward(h.remote_key, at_ms(0));
  auto first = h.fw.take_sends();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].request.request_id, 1000u);
  h.fw.on_link_failed("b:1", "reset", at_ms(1));
  h.run_until(at_ms(20));
  auto second = h.fw.take_sends();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].request.request_id, 1000u);
}

TEST(Forwarder, ShutdownEndsEveryCallOnce) {
  Harness h;
  for (int i = 0; i < 5; ++i) h.forward(h.remote_key, at_ms(0));
  h.fw.shutdown();
  h.forward(h.remote_key, at_ms(1));
  ASSERT_EQ(h.results.size(), 6u);
  for (const auto& r : h.results) EXPECT_EQ(r.error, ForwardError::kShuttingDown);
  h.run_until(at_ms(10000));
  EXPECT_EQ(h.results.size(), 6u);
}

// Application code that throws fails its own request, never the node.
TEST(Forwarder, ThrowingHandlerAndCallbackAreContained) {
  Harness h;
  h.set_handler([](std::string_view, std::string_view) -> HandlerResult {
    throw std::runtime_error("boom");
  });
  h.forward(h.local_key, at_ms(0));
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].error, ForwardError::kHandlerFailed);
  EXPECT_EQ(h.results[0].message, "handler threw: boom");
  auto r = h.serve(proto::ForwardRequest{h.local_key, "x", 0, "b:1", 1000}, false, at_ms(0));
  EXPECT_EQ(r.error, static_cast<uint32_t>(ForwardError::kHandlerFailed));
  EXPECT_EQ(h.fw.stats().handler_exceptions, 2u);
  // A completion callback that throws is counted; the next call is fine.
  h.fw.forward(
      h.local_key, "p", {}, [](ForwardResult) { throw 42; }, at_ms(1));
  h.run_jobs(at_ms(1));
  EXPECT_EQ(h.fw.stats().forward_callback_errors, 1u);
  h.forward(h.local_key, at_ms(2));
  EXPECT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.fw.calls_in_progress(), 0u);
}

// ---- the counters table ----

// The engine of node 127.0.0.1:1 in cluster "c", for the version tests.
EngineOptions version_test_options() {
  EngineOptions o;
  o.protocol.address = "127.0.0.1:1";
  o.protocol.cluster = "c";
  o.protocol.incarnation = 1;
  return o;
}

// Sent at the highest version both sides speak: the TCP fallback probe
// (Ping frames, minor 1) goes only to a peer whose datagrams said it speaks
// minor 1 or later; to one from before minor versions, the probe goes on
// without it.
TEST(EngineVersions, FallbackProbeOnlyToPeersThatSpeakIt) {
  for (uint32_t peer_minor : {0u, 1u, 2u, UINT32_MAX}) {
    SCOPED_TRACE("peer minor " + std::to_string(peer_minor));
    membership::Instant now{};
    Engine e(version_test_options(), 3, now);
    // The peer announces itself; its datagram says which minor it speaks.
    const membership::Gossip hello{
        "127.0.0.2:1", 0, {{"127.0.0.2:1", membership::Status::kAlive, 1, {}, "127.0.0.2:1", 0}}};
    v1::Envelope env;
    ASSERT_TRUE(env.ParseFromString(proto::encode_datagram("c", hello)));
    env.set_minor_version(peer_minor);
    ASSERT_FALSE(e.on_datagram("127.0.0.2:1", env.SerializeAsString(), now).dropped());
    EXPECT_EQ(e.minor_of("127.0.0.2:1"), peer_minor);
    // It never answers a probe: after a few periods, count Ping frames.
    size_t pings = 0;
    for (int i = 0; i < 200 && now < membership::Instant{} + milliseconds(2000); ++i) {
      now = std::max(now, e.next_deadline());
      e.tick(now);
      for (auto& x : e.take_exchanges()) {
        if (std::holds_alternative<membership::Ping>(x.request)) ++pings;
        e.on_exchange_failed(x.id, now);
      }
      (void)e.take_datagrams();
    }
    EXPECT_GT(e.core().stats().tcp_probes_sent, 0u);
    if (peer_minor >= membership::kMinorTcpPing) {
      EXPECT_EQ(pings, e.core().stats().tcp_probes_sent);
    } else {
      EXPECT_EQ(pings, 0u);
    }
  }
}

// Tables go compressed only to a peer that said it speaks minor 7: an
// older node would find no body it knows in the frame and drop it.
TEST(EngineVersions, TablesGoCompressedOnlyToPeersThatSpeakIt) {
  for (uint32_t peer_minor : {0u, 6u, 7u, 8u}) {
    SCOPED_TRACE("peer minor " + std::to_string(peer_minor));
    membership::Instant now{};
    Engine e(version_test_options(), 3, now);
    if (peer_minor != 0) e.note_minor("127.0.0.2:1", peer_minor);
    e.join({"127.0.0.2:1"}, now);
    auto exchanges = e.take_exchanges();
    ASSERT_EQ(exchanges.size(), 1u);
    EXPECT_EQ(exchanges[0].to, "127.0.0.2:1");
    EXPECT_EQ(exchanges[0].compress, peer_minor >= membership::kMinorCompression);
  }
}

TEST(Counters, EveryCounterReachesStatsAndMetrics) {
  const NodeStats zero = empty_node_stats();
  const std::string json = render_stats_json(zero);
  const std::string text = render_prometheus(zero);
  for (const Metric& m : collect_metrics(zero)) {
    EXPECT_NE(json.find("\"" + std::string(m.name) + "\""), std::string::npos) << m.name;
    EXPECT_NE(text.find("shoal_" + std::string(m.name)), std::string::npos) << m.name;
  }
  // Labelled families come from their enums: every reason and status.
  EXPECT_NE(text.find("shoal_drops_total{reason=\"bad_field\"} 0"), std::string::npos);
  EXPECT_NE(text.find("shoal_members{status=\"tombstone\"} 0"), std::string::npos);
  EXPECT_NE(text.find("shoal_syncs_received_total 0"), std::string::npos);
  EXPECT_NE(text.find("shoal_forwards_ring_mismatch_total 0"), std::string::npos);
}

// docs/OPERATIONS.md carries the table the code generates; regenerate it
// with scripts/update-counters-doc.sh.
TEST(Counters, DocsTableMatchesTheCode) {
  std::ifstream in(SHOAL_SOURCE_DIR "/docs/OPERATIONS.md");
  ASSERT_TRUE(in) << "cannot open docs/OPERATIONS.md";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const std::string begin = "<!-- counters:begin -->\n", end = "<!-- counters:end -->";
  const size_t b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  const std::string table = doc.substr(b + begin.size(), e - b - begin.size());
  EXPECT_EQ(table, render_counters_markdown())
      << "docs/OPERATIONS.md's counters table differs from node/counters.h; run "
         "scripts/update-counters-doc.sh";
}

}  // namespace
}  // namespace shoal::node
