// Copyright shoal authors. Membership tables on the wire (issue 25, item
// 4): a SyncResponse (what a join or full sync answers) of N members,
// encoded and decoded through the real frame codec. Reports the frame's
// bytes beside the times.
//
//   shoal-table-bench [--benchmark_filter=...]
//
// Members look like real ones: "10.X.Y.Z:7946" names, a wall-clock
// incarnation, and (the /labels variants) 3 labels of about 40 bytes in
// all, e.g. zone and version. The third argument compresses (minor 7).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shoal/membership/messages.h"
#include "shoal/proto/codec.h"

namespace {

using shoal::membership::MemberState;
using shoal::membership::Status;

std::vector<MemberState> table(size_t n, bool labels) {
  std::vector<MemberState> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    MemberState m;
    m.name = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
             std::to_string(i % 256) + ":7946";
    m.status = i % 50 == 0 ? Status::kFaulty : Status::kAlive;
    m.incarnation = 1796000000000 + i * 7;
    if (labels) {
      m.labels = {{"zone", "eu-west-" + std::to_string(i % 3)},
                  {"version", "1.4.2"},
                  {"role", i % 2 ? "cache" : "api"}};
    }
    out.push_back(std::move(m));
  }
  return out;
}

shoal::proto::FrameBody body(size_t n, bool labels) {
  return shoal::membership::SyncResponse{"10.0.0.1:7946", 0x5eed, table(n, labels)};
}

// range(2) = 1: compressed (protocol minor 7, zstd level kCompressLevel).
void BM_TableEncode(benchmark::State& state) {
  const auto b = body(static_cast<size_t>(state.range(0)), state.range(1) != 0);
  const bool compress = state.range(2) != 0;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string f = shoal::proto::encode_frame("bench", 1, b, compress);
    bytes = f.size();
    benchmark::DoNotOptimize(f);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["bytes_per_member"] =
      static_cast<double>(bytes) / static_cast<double>(state.range(0));
}

void BM_TableDecode(benchmark::State& state) {
  const std::string f = shoal::proto::encode_frame(
      "bench", 1, body(static_cast<size_t>(state.range(0)), state.range(1) != 0),
      state.range(2) != 0);
  for (auto _ : state) {
    auto d = shoal::proto::decode_frame(f, "bench", shoal::proto::kDefaultMaxFrameBytes);
    if (!d.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(d);
  }
  state.counters["bytes"] = static_cast<double>(f.size());
}

// (members, labels 0/1, compressed 0/1), the same for both.
void table_sizes(benchmark::internal::Benchmark* b) {
  for (int64_t z : {0, 1}) {
    b->Args({1000, 0, z})->Args({10000, 0, z})->Args({10000, 1, z})->Args({65536, 1, z});
  }
  b->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_TableEncode)->Apply(table_sizes);
BENCHMARK(BM_TableDecode)->Apply(table_sizes);

}  // namespace

BENCHMARK_MAIN();
