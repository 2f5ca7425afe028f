#!/usr/bin/env bash
# Scale benchmark: N real shoald processes on 127.0.0.1 with default
# parameters. Cold-start convergence, steady-state CPU and RSS per node,
# UDP bytes/s per node, and detection time after a kill -9. One JSON line
# per N. See scripts/bench_cluster.py; figures go to docs/PERFORMANCE.md.
#
#   scripts/bench-cluster.sh N [N...]      e.g. scripts/bench-cluster.sh 10 100 500 1000
#
# For one N with more control, call the harness directly, e.g. a paced start
# with other timing: python3 scripts/bench_cluster.py --bin build-release/cli
#   --nodes 1000 --start-rate 10 --shoald-arg=--protocol-period-ms=1000 --keep-logs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(($#)) || { sed -n '2,11p' "$0"; exit 2; }
for n in "$@"; do
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 3 && n <= 2000)) || { echo "bench-cluster.sh: N must be 3..2000" >&2; exit 2; }
done
dir=$("$root/scripts/build.sh" --release shoald shoal-cli | tail -n 1)
# Many processes: make sure each may open enough sockets.
ulimit -n 65536 2>/dev/null || true
for n in "$@"; do
  python3 "$root/scripts/bench_cluster.py" --bin "$dir/cli" --nodes "$n"
done
