#!/usr/bin/env bash
# Runs the simulator scenarios behind docs/PERFORMANCE.md's membership table
# (fixed seeds: the figures are exactly reproducible; wall times vary).
# Prints one JSON line per run. Takes about 5 minutes on 2 cores.
#
#   scripts/bench-sim.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$("$root/scripts/build.sh" --release shoal-sim | tail -n 1)
sim="$dir/tests/sim/shoal-sim"
run() { echo "shoal-sim $*" >&2; "$sim" "$@" --json || true; }
run --scenario cold-start --nodes 1000 --seed 1
run --scenario cold-start --nodes 100 --seed 1
run --scenario dissemination --nodes 1000 --seed 2
for seed in 3 11 12 13 14 15 16 17; do run --scenario detect --nodes 1000 --seed "$seed"; done
for loss in 0.1 0.2 0.3; do run --scenario accuracy --nodes 200 --seed 4 --loss "$loss" --seconds 600; done
run --scenario slow-node --nodes 100 --seed 5 --seconds 120
run --scenario refute --nodes 200 --seed 6
run --scenario partition --nodes 200 --seed 7
run --scenario restart --nodes 200 --seed 8
run --scenario churn --nodes 500 --seed 9
run --scenario bandwidth --nodes 100 --seed 10 --seconds 30
run --scenario bandwidth --nodes 1000 --seed 10 --seconds 30
run --scenario forward-churn --nodes 200 --seed 11
run --scenario accuracy --nodes 1000 --seed 1 --seconds 120 --loss 0
