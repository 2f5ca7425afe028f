#!/usr/bin/env bash
# Membership tables on the wire: a join or sync answer of N members through
# the real frame codec (bytes, encode and decode time).
#
#   scripts/bench-table.sh [REPETITIONS]
#
# Figures go to docs/PERFORMANCE.md ("Membership tables on the wire").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench-table.sh: REPETITIONS must be a positive integer" >&2; exit 2; }

dir=$("$root/scripts/build.sh" --release shoal-table-bench | tail -n 1)
"$dir/tests/bench/shoal-table-bench" --benchmark_repetitions="$reps" \
  --benchmark_report_aggregates_only=true 2>&1 | grep -E "^(Benchmark|-|BM_.*_median)"
