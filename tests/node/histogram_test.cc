// Latency histograms (node/histogram.h): bucket edges on both sides, the
// quantile estimate, concurrent recording, and the Prometheus lines.

#include "shoal/node/histogram.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "shoal/node/counters.h"

namespace shoal::node {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(LatencyHistogram, BucketEdgesAreInclusiveUpperBounds) {
  EXPECT_EQ(latency_bucket(nanoseconds(0)), 0u);
  EXPECT_EQ(latency_bucket(microseconds(50)), 0u);                   // le 0.00005
  EXPECT_EQ(latency_bucket(microseconds(50) + nanoseconds(1)), 1u);  // just above
  EXPECT_EQ(latency_bucket(milliseconds(1)), 4u);                    // le 0.001
  EXPECT_EQ(latency_bucket(std::chrono::seconds(10)), 16u);          // le 10
  EXPECT_EQ(latency_bucket(std::chrono::seconds(11)), 17u);          // +Inf
}

TEST(LatencyHistogram, QuantilesFallInTheirBucket) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile(0.5), 0);
  for (int i = 0; i < 98; ++i) h.observe(microseconds(300));  // (0.00025, 0.0005]
  h.observe(milliseconds(40));                                // (0.025, 0.05]
  h.observe(milliseconds(40));
  EXPECT_EQ(h.count, 100u);
  EXPECT_GT(h.quantile(0.5), 0.00025);
  EXPECT_LE(h.quantile(0.5), 0.0005);
  EXPECT_GT(h.quantile(0.99), 0.025);
  EXPECT_LE(h.quantile(0.99), 0.05);
  EXPECT_NEAR(h.sum_seconds(), 98 * 0.0003 + 0.08, 1e-9);
  h.observe(std::chrono::seconds(60));  // past the last bound
  EXPECT_EQ(h.quantile(1.0), 10.0);
}

TEST(AtomicHistogram, ThreadsRecordAtOnce) {
  AtomicHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.observe(microseconds(100));
    });
  }
  for (auto& t : threads) t.join();
  const LatencyHistogram s = h.snapshot();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_EQ(s.counts[1], 40000u);  // (0.00005, 0.0001]
}

TEST(LatencyHistogram, PrometheusLinesAreCumulativeWithSumAndCount) {
  NodeStats s = empty_node_stats();
  s.handler_duration.observe(microseconds(30));
  s.handler_duration.observe(milliseconds(2));
  const std::string text = render_prometheus(s);
  EXPECT_NE(text.find("# TYPE shoal_handler_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("shoal_handler_duration_seconds_bucket{le=\"5e-05\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("shoal_handler_duration_seconds_bucket{le=\"0.001\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("shoal_handler_duration_seconds_bucket{le=\"0.0025\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("shoal_handler_duration_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("shoal_handler_duration_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(text.find("shoal_handler_duration_seconds_sum 0.002030000\n"), std::string::npos);
  EXPECT_NE(text.find("shoal_forward_duration_seconds_bucket{outcome=\"ok\",le=\"+Inf\"} 0\n"),
            std::string::npos);
  // Every outcome but not_owner (a wire answer, never a call's result).
  EXPECT_EQ(text.find("outcome=\"not_owner\""), std::string::npos);
  EXPECT_NE(text.find("outcome=\"circuit_open\""), std::string::npos);
}

}  // namespace
}  // namespace shoal::node
