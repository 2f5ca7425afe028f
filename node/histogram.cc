// Copyright shoal authors. See histogram.h.

#include "shoal/node/histogram.h"

#include <algorithm>

namespace shoal::node {

size_t latency_bucket(std::chrono::nanoseconds d) {
  const double s = std::chrono::duration<double>(d).count();
  const auto it = std::lower_bound(kLatencyBoundsSeconds.begin(), kLatencyBoundsSeconds.end(), s);
  return static_cast<size_t>(it - kLatencyBoundsSeconds.begin());
}

void LatencyHistogram::observe(std::chrono::nanoseconds d) {
  if (d.count() < 0) d = std::chrono::nanoseconds(0);
  ++counts[latency_bucket(d)];
  ++count;
  sum_ns += static_cast<uint64_t>(d.count());
}

double LatencyHistogram::quantile(double q) const {
  uint64_t total = 0;  // from the buckets: a snapshot's count may be ahead of them
  for (uint64_t c : counts) total += c;
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  double below = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    const double in = static_cast<double>(counts[b]);
    if (below + in >= rank && in > 0) {
      if (b == kBuckets - 1) return kLatencyBoundsSeconds.back();
      const double lo = b == 0 ? 0.0 : kLatencyBoundsSeconds[b - 1];
      const double hi = kLatencyBoundsSeconds[b];
      return lo + (hi - lo) * std::clamp((rank - below) / in, 0.0, 1.0);
    }
    below += in;
  }
  return kLatencyBoundsSeconds.back();
}

void AtomicHistogram::observe(std::chrono::nanoseconds d) {
  if (d.count() < 0) d = std::chrono::nanoseconds(0);
  counts_[latency_bucket(d)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(d.count()), std::memory_order_relaxed);
}

LatencyHistogram AtomicHistogram::snapshot() const {
  LatencyHistogram h;
  for (size_t b = 0; b < h.counts.size(); ++b) {
    h.counts[b] = counts_[b].load(std::memory_order_relaxed);
  }
  h.count = count_.load(std::memory_order_relaxed);
  h.sum_ns = sum_ns_.load(std::memory_order_relaxed);
  return h;
}

}  // namespace shoal::node
