#!/usr/bin/env bash
# Forwarding with the owner in a process of its own: a shoald on loopback
# is the only member on the ring (its default handler echoes), and
# shoal-forward-bench --owner-port runs one entry node (off the ring) with
# CALLERS concurrent callers that forward every request to it. Each round
# runs the owner twice, with its handlers on the handler threads (the
# default, 2) and inline on its io thread (--handler-threads 0), and prints
# both JSON lines ("owner_handler_threads" says which); REPS rounds
# (default 3). Quote the medians and the ratio default/inline.
#
#   scripts/bench-forward-process.sh [REPS] [SECONDS] [CALLERS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
secs=${2:-5}
callers=${3:-64}
for v in "$reps" "$secs" "$callers"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench-forward-process.sh: arguments must be positive integers" >&2; exit 2; }
done
dir=$("$root/scripts/build.sh" --release shoald shoal-forward-bench | tail -n 1)

owner=""
stop_owner() {
  [[ -n $owner ]] || return 0
  kill "$owner" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$owner" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$owner" 2>/dev/null || true
  owner=""
}
trap stop_owner EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for ((r = 0; r < reps; r++)); do
  for threads in 2 0; do
    "$dir/cli/shoald" --listen "127.0.0.1:$port" --cluster bench --handler-threads "$threads" \
      --log-level warn --leave-timeout-ms 0 &
    owner=$!
    line=$("$dir/tests/bench/shoal-forward-bench" --owner-port "$port" --callers "$callers" \
      --seconds "$secs" 2>/dev/null | grep '^{' || true)
    stop_owner
    [[ -n $line ]] || { echo "bench-forward-process.sh: the bench printed nothing" >&2; exit 1; }
    echo "{\"owner_handler_threads\": $threads, ${line#\{}"
  done
done
