// Seal benchmarks (Google Benchmark): what authenticated encryption costs
// per message (node/seal.h). scripts/bench-seal.sh runs them with
// repetitions; docs/PERFORMANCE.md records the medians.
//
//   seal_open/N     seal then open one N-byte message (XChaCha20-Poly1305,
//                   random nonce): the extra work per datagram or frame
//   plaintext/N     the same path with encryption off (open() only checks
//                   the first byte): the baseline of the same run

#include <benchmark/benchmark.h>

#include <string>

#include "shoal/node/seal.h"

namespace {

using shoal::node::Encryption;
using shoal::node::Keyring;
using shoal::node::Seal;

Keyring one_key() {
  Keyring r;
  r.install(shoal::node::generate_key());
  return r;
}

void BM_seal_open(benchmark::State& state) {
  Seal a("bench", Encryption::kRequired, one_key());
  Seal b("bench", Encryption::kRequired, a.keyring());
  const std::string plain(static_cast<size_t>(state.range(0)), 'p');
  std::string out;
  for (auto _ : state) {
    out.clear();
    a.seal(Seal::Channel::kDatagram, plain, out);
    auto opened = b.open(Seal::Channel::kDatagram, out);
    benchmark::DoNotOptimize(opened.plain.data());
    if (!opened.ok()) state.SkipWithError("did not open");
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_seal_open)->Arg(64)->Arg(300)->Arg(1355)->Arg(16384);

void BM_plaintext(benchmark::State& state) {
  Seal b("bench", Encryption::kOff);
  const std::string plain(static_cast<size_t>(state.range(0)), 'p');
  std::string out;
  for (auto _ : state) {
    out = plain;
    auto opened = b.open(Seal::Channel::kDatagram, out);
    benchmark::DoNotOptimize(opened.plain.data());
  }
}
BENCHMARK(BM_plaintext)->Arg(64)->Arg(300)->Arg(1355)->Arg(16384);

}  // namespace

BENCHMARK_MAIN();
