#!/usr/bin/env bash
# A short tour of shoal's consistent hash ring (the node runtime, and with it
# `scripts/cluster.sh`, arrives with issue 4). Installs and builds what is
# missing, then shows placement, balance and minimal disruption on a ring
# of N members (default 5) on 127.0.0.1:7000..
#
#   scripts/demo.sh [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5}
[[ $n =~ ^[1-9][0-9]*$ ]] && ((n <= 10000)) || { echo "demo.sh: N must be 1..10000" >&2; exit 2; }

dir=$("$root/scripts/build.sh" shoal-ring | tail -n 1)
ring="$dir/cli/shoal-ring"

echo "== Who owns these keys? (owner, then two replicas clockwise)"
"$ring" lookup --count "$n" -n 3 user:alice user:bob order:1001 order:1002 cart:42
echo
echo "== The same as JSON"
"$ring" lookup --count "$n" --json user:alice
echo
echo "== Balance: share of 100,000 sampled keys per member (100 points each)"
"$ring" balance --count "$n"
echo
echo "== A member joins: only the keys it now owns move (about 1/(N+1))"
"$ring" move --count "$n" --add 127.0.0.1:9999
echo
echo "== A member leaves: only its own keys move (about 1/N)"
"$ring" move --count "$n" --remove 127.0.0.1:7000
