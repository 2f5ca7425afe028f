#!/usr/bin/env bash
# The kv example's steady-state throughput: 3 kv-servers on loopback, one
# kv-client with 8 threads writing 10,000 keys, then overwrites and reads
# (READS percent reads, default 50, each checked not to be older than its
# key's last answered write) for SECONDS in all (default 10, the fill
# included). Runs it REPS times (default 3) and prints each run's JSON
# line (ops_per_s: reads and writes answered per second after the fill);
# quote the median.
#
#   scripts/bench-kv.sh [REPS] [SECONDS] [READS]
#
# SHOAL_KV_SERVER=PATH runs that kv-server (another version's) instead of
# this tree's Release build, against this tree's kv-client, to compare two
# versions in one sitting.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
secs=${2:-10}
reads=${3:-50}
for v in "$reps" "$secs"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench-kv.sh: REPS and SECONDS must be positive integers" >&2; exit 2; }
done
[[ $reads =~ ^[0-9]+$ && $reads -le 100 ]] || { echo "bench-kv.sh: READS must be 0..100" >&2; exit 2; }
bin=$("$root/scripts/build.sh" --release kv-server kv-client | tail -n 1)/examples/kv
server=${SHOAL_KV_SERVER:-$bin/kv-server}
[[ -x $server ]] || { echo "bench-kv.sh: $server is not an executable" >&2; exit 2; }

work=$(mktemp -d)
pids=()
stop_servers() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_servers; rm -rf "$work"' EXIT

# Free loopback ports: the kernel's pick, then released.
ports=$(python3 -c '
import socket
s = []
for _ in range(6):
    x = socket.socket(); x.bind(("127.0.0.1", 0)); s.append(x)
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r g0 g1 g2 h0 h1 h2 <<<"$ports"

for ((r = 0; r < reps; r++)); do
  "$server" --listen "127.0.0.1:$g0" --http "127.0.0.1:$h0" 2>"$work/s0.log" &
  pids+=($!)
  for i in 1 2; do
    g=g$i h=h$i
    "$server" --listen "127.0.0.1:${!g}" --http "127.0.0.1:${!h}" \
      --seeds "127.0.0.1:$g0" 2>"$work/s$i.log" &
    pids+=($!)
  done
  # Every server's ring holds all three (bounded: 30 s).
  for _ in $(seq 1 300); do
    n=0
    for h in "$h0" "$h1" "$h2"; do
      curl -sf "127.0.0.1:$h/status" 2>/dev/null | grep -q '"ring_members":3' && n=$((n + 1))
    done
    [[ $n == 3 ]] && break
    sleep 0.1
  done
  [[ $n == 3 ]] || { echo "bench-kv.sh: the servers did not form a ring of 3" >&2; exit 1; }
  "$bin/kv-client" --servers "127.0.0.1:$h0,127.0.0.1:$h1,127.0.0.1:$h2" load --keys 10000 \
    --workers 8 --reads "$reads" --out "$work/expect" --stop-file "$work/never" \
    --max-seconds "$secs" | grep '^{'
  stop_servers
done
