#!/usr/bin/env bash
# Seal benchmarks (tests/bench/seal_bench.cc): a Release build, each repeated,
# medians reported (the machine is shared and noisy).
#
#   scripts/bench-seal.sh [REPETITIONS] [FILTER]
#
# Defaults: 9 repetitions, all seal benchmarks. Figures go to
# docs/PERFORMANCE.md with this command line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-9}
filter=${2:-.}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench-seal.sh: REPETITIONS must be a positive integer" >&2; exit 2; }

dir=$("$root/scripts/build.sh" --release shoal-seal-bench | tail -n 1)
"$dir/tests/bench/shoal-seal-bench" --benchmark_filter="$filter" \
  --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
  --benchmark_min_time=0.2 2>&1 | grep -E "^(Benchmark|-|BM_.*_median)|Run on|CPU Caches|L[123]" 
