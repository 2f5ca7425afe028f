// Ring benchmarks (Google Benchmark). scripts/bench-ring.sh runs them with
// repetitions and reports medians; docs/PERFORMANCE.md records the figures.
//
//   lookup        random 16-byte key, hash included, 100 points per member
//   lookup_n(3)   three distinct owners
//   change        one member added or removed on an N-member ring, new
//                 snapshot ready to publish
//   build         N members from scratch
//   baseline      std::lower_bound over a sorted array of the same point
//                 hashes (what a plain binary search costs, same run)

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "shoal/ring/diff.h"
#include "shoal/ring/publisher.h"
#include "shoal/ring/ring.h"

namespace {

using shoal::ring::Ring;
using shoal::ring::RingBuilder;

std::vector<std::string> members(size_t n) {
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back("10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                  std::to_string(i % 256) + ":7000");
  }
  return out;
}

std::shared_ptr<const Ring> ring_of(size_t n) {
  RingBuilder b;
  for (const auto& m : members(n)) {
    if (!b.add(m)) std::abort();
  }
  return b.build();
}

// 2^20 random 16-byte keys, read in order: the key stream is prefetched, so
// the ring's own memory accesses are what the benchmark sees.
constexpr size_t kKeys = size_t{1} << 20;
const std::vector<std::array<char, 16>>& keys() {
  static const std::vector<std::array<char, 16>> k = [] {
    std::mt19937_64 rng(42);
    std::vector<std::array<char, 16>> v(kKeys);
    for (auto& key : v) {
      const uint64_t a = rng(), b = rng();
      std::memcpy(key.data(), &a, 8);
      std::memcpy(key.data() + 8, &b, 8);
    }
    return v;
  }();
  return k;
}

std::string_view key_at(size_t i) {
  const auto& k = keys()[i & (kKeys - 1)];
  return {k.data(), k.size()};
}

// The key hash alone: the floor under every lookup.
void BM_KeyHash(benchmark::State& state) {
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(shoal::ring::key_hash(key_at(i++)));
}
BENCHMARK(BM_KeyHash);

void BM_Lookup(benchmark::State& state) {
  auto ring = ring_of(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(ring->lookup(key_at(i++)));
  state.counters["bytes_per_point"] =
      static_cast<double>(ring->lookup_memory_bytes()) / static_cast<double>(ring->point_count());
}
BENCHMARK(BM_Lookup)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);

// Latency rather than throughput: the next key depends on this lookup's
// result, so the CPU cannot overlap one lookup's cache misses with the next.
void BM_LookupDependent(benchmark::State& state) {
  auto ring = ring_of(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    const std::string_view owner = ring->lookup(key_at(i));
    // A data dependency, not a branch: a predicted branch would let the
    // CPU run ahead speculatively and overlap the lookups anyway.
    i += 1 + (owner.size() >> 40);
  }
  benchmark::DoNotOptimize(i);
}
BENCHMARK(BM_LookupDependent)->Arg(1000);

// Through a RingReader, as an application thread does it.
void BM_LookupViaReader(benchmark::State& state) {
  shoal::ring::RingPublisher publisher(ring_of(static_cast<size_t>(state.range(0))));
  shoal::ring::RingReader reader(publisher);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(reader.get().lookup(key_at(i++)));
}
BENCHMARK(BM_LookupViaReader)->Arg(1000);

void BM_LookupN3(benchmark::State& state) {
  auto ring = ring_of(static_cast<size_t>(state.range(0)));
  std::array<std::string_view, 3> out;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ring->lookup_n(key_at(i++), out));
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_LookupN3)->Arg(1000);

// Plain binary search over the same 64-bit point hashes, hash included.
void BM_BaselineBinarySearch(benchmark::State& state) {
  const auto ms = members(static_cast<size_t>(state.range(0)));
  std::vector<uint64_t> points;
  for (const auto& m : ms) {
    for (uint32_t p = 0; p < shoal::ring::kDefaultReplicaPoints; ++p) {
      points.push_back(shoal::ring::point_hash(m, p));
    }
  }
  std::sort(points.begin(), points.end());
  size_t i = 0;
  for (auto _ : state) {
    auto it = std::lower_bound(points.begin(), points.end(), shoal::ring::key_hash(key_at(i++)));
    benchmark::DoNotOptimize(it == points.end() ? points.front() : *it);
  }
}
BENCHMARK(BM_BaselineBinarySearch)->Arg(1000);

// One member joins or leaves an N-member ring (alternately), and the new
// snapshot is ready to publish.
void BM_OneMemberChange(benchmark::State& state) {
  RingBuilder b(ring_of(static_cast<size_t>(state.range(0))));
  bool present = false;
  for (auto _ : state) {
    if (present) {
      b.remove("192.168.0.1:7000");
    } else if (!b.add("192.168.0.1:7000")) {
      state.SkipWithError("add failed");
    }
    present = !present;
    benchmark::DoNotOptimize(b.build());
  }
}
BENCHMARK(BM_OneMemberChange)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_BuildFromScratch(benchmark::State& state) {
  const auto ms = members(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    RingBuilder b;
    for (const auto& m : ms) {
      if (!b.add(m)) state.SkipWithError("add failed");
    }
    benchmark::DoNotOptimize(b.build());
  }
}
BENCHMARK(BM_BuildFromScratch)->Arg(1000)->Unit(benchmark::kMillisecond);

// The diff of two N-member rings (100 points each) that differ by one
// member: what a ring-change callback computes to hand keys off. Target:
// at most 1 ms at 1000 members.
void BM_DiffOneMember(benchmark::State& state) {
  auto before = ring_of(static_cast<size_t>(state.range(0)));
  RingBuilder b(before);
  if (!b.add("192.168.0.1:7000")) state.SkipWithError("add failed");
  auto after = b.build();
  size_t moves = 0;
  for (auto _ : state) {
    auto d = shoal::ring::diff(*before, *after);
    moves = d.moves.size();
    benchmark::DoNotOptimize(d);
  }
  state.counters["moves"] = static_cast<double>(moves);
}
BENCHMARK(BM_DiffOneMember)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// The same change as replica sets of 3 (RingChange::replica_diff(3)): which
// ranges gained or lost which member among their three owners.
void BM_ReplicaDiffOneMember(benchmark::State& state) {
  auto before = ring_of(static_cast<size_t>(state.range(0)));
  RingBuilder b(before);
  if (!b.add("192.168.0.1:7000")) state.SkipWithError("add failed");
  auto after = b.build();
  size_t moves = 0;
  for (auto _ : state) {
    auto d = shoal::ring::replica_diff(*before, *after, 3);
    moves = d.moves.size();
    benchmark::DoNotOptimize(d);
  }
  state.counters["moves"] = static_cast<double>(moves);
}
BENCHMARK(BM_ReplicaDiffOneMember)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
