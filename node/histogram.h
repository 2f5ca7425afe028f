// Copyright shoal authors. Latency histograms: fixed buckets from 50 us to
// 10 s (Prometheus' default spread, finer at the low end where forwarding
// lives), a count and a sum. Exported as Prometheus histograms
// (cumulative buckets, _sum, _count) and summarized as p50/p99 in `shoal
// stats`.
//
// LatencyHistogram is a value (a snapshot; one thread). AtomicHistogram
// records from any number of threads at once (relaxed atomics: a snapshot
// taken meanwhile may be a few observations behind, never torn per field).

#ifndef SHOAL_NODE_HISTOGRAM_H_
#define SHOAL_NODE_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace shoal::node {

// Upper bounds of the buckets, in seconds; one more bucket holds the rest.
inline constexpr std::array<double, 17> kLatencyBoundsSeconds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};

struct LatencyHistogram {
  static constexpr size_t kBuckets = kLatencyBoundsSeconds.size() + 1;  // the last: +Inf
  std::array<uint64_t, kBuckets> counts{};  // per bucket, not cumulative
  uint64_t count = 0;
  uint64_t sum_ns = 0;

  void observe(std::chrono::nanoseconds d);
  // The q-quantile (0 < q < 1) in seconds, interpolated linearly within
  // its bucket; 0 if empty; the last bound if it falls past it.
  double quantile(double q) const;
  double sum_seconds() const { return static_cast<double>(sum_ns) / 1e9; }
};

class AtomicHistogram {
 public:
  void observe(std::chrono::nanoseconds d);
  LatencyHistogram snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, LatencyHistogram::kBuckets> counts_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

// Which bucket a duration falls in.
size_t latency_bucket(std::chrono::nanoseconds d);

}  // namespace shoal::node

#endif  // SHOAL_NODE_HISTOGRAM_H_
