#!/usr/bin/env bash
# Forwarding benchmark: 3 nodes on loopback in one process, 64 concurrent
# callers, random keys, echo handler (tests/bench/forward_bench.cc). Runs it
# REPS times (default 3) and prints each run's JSON line; quote the median.
#
#   scripts/bench-forward.sh [REPS] [SECONDS] [CALLERS]
#
# SHOAL_BENCH_KEYRING=1 seals every frame (--encryption required); the JSON
# line then says "keyring":1. SHOAL_BENCH_INLINE=1 runs the handlers on the
# io thread (handler_threads 0) instead of the handler executor;
# SHOAL_BENCH_INLINE=alternate alternates the two run by run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
secs=${2:-10}
callers=${3:-64}
for v in "$reps" "$secs" "$callers"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench-forward.sh: arguments must be positive integers" >&2; exit 2; }
done
dir=$("$root/scripts/build.sh" --release shoal-forward-bench | tail -n 1)
for ((r = 0; r < reps; r++)); do
  keyring=()
  [[ ${SHOAL_BENCH_KEYRING:-0} == 1 ]] && keyring=(--keyring 1)
  inline=${SHOAL_BENCH_INLINE:-0}
  [[ $inline == alternate ]] && inline=$((r % 2))
  "$dir/tests/bench/shoal-forward-bench" --callers "$callers" --seconds "$secs" \
    "${keyring[@]}" --inline-handlers "$inline" 2>/dev/null | grep "^{"
done
