#!/usr/bin/env bash
# Runs simulator scenarios with random seeds, looking for rare failures the
# fixed-seed suite misses. Prints each failing run and the command that
# replays it; exits 1 if any failed.
#
#   scripts/sim-sweep.sh [RUNS] [SCENARIO] [NODES] [-- extra shoal-sim args]
#
# Defaults: 20 runs of every scenario at 200 nodes (accuracy at 30% loss).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-20}
only=${2:-}
nodes=${3:-200}
shift $(( $# < 3 ? $# : 3 ))
[[ ${1:-} == -- ]] && shift
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "sim-sweep.sh: RUNS must be a positive integer" >&2; exit 2; }

dir=$("$root/scripts/build.sh" shoal-sim | tail -n 1)
sim="$dir/tests/sim/shoal-sim"
scenarios=(cold-start dissemination detect accuracy slow-node refute partition restart churn bandwidth
  forward-churn)
[[ -n $only ]] && scenarios=("$only")

failed=0
for ((r = 0; r < runs; r++)); do
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  for s in "${scenarios[@]}"; do
    args=(--scenario "$s" --nodes "$nodes" --seed "$seed" "$@")
    [[ $s == accuracy ]] && args+=(--loss 0.3 --seconds 120)
    if ! out=$("$sim" "${args[@]}" 2>&1); then
      echo "FAIL: $out"
      echo "  replay: $sim ${args[*]}"
      failed=$((failed + 1))
    fi
  done
done
echo "sim-sweep: $((runs * ${#scenarios[@]})) runs, $failed failed"
((failed == 0))
