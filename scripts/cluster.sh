#!/usr/bin/env bash
# Starts and drives a local shoal cluster of shoald processes on 127.0.0.1.
#
#   scripts/cluster.sh up N [--base-port P]   build if needed, start N nodes on
#                                             ports P..P+N-1 (default 7000),
#                                             seeded by the first three; wait
#                                             until converged; print members
#                                             (node 0 serves the web page /ui
#                                             and /metrics at P+2000)
#   scripts/cluster.sh down                   stop every node (graceful, then KILL)
#   scripts/cluster.sh status                 has the cluster converged?
#   scripts/cluster.sh members                the member list
#   scripts/cluster.sh kill I                 SIGKILL node I (a crash)
#   scripts/cluster.sh start I                start node I again (same port)
#   scripts/cluster.sh leave I                SIGTERM node I (graceful leave)
#   scripts/cluster.sh logs I                 print node I's log
#
# State (pids, logs, the base port) lives in $SHOAL_RUN_DIR (default
# .shoal-run/ in the repository, ignored by git). Extra shoald flags can be
# given in $SHOALD_FLAGS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${SHOAL_RUN_DIR:-$root/.shoal-run}
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "cluster.sh: $*" >&2; exit 2; }

bin_dir() { echo "$root/build/cli"; }
ensure_built() {
  if [[ ! -x $(bin_dir)/shoald || ! -x $(bin_dir)/shoal ]] || [[ ${SHOAL_REBUILD:-1} == 1 ]]; then
    "$root/scripts/build.sh" shoald shoal-cli >/dev/null
  fi
}
node_port() { echo $(( $(cat "$run/base_port") + $1 )); }
node_addr() { echo "127.0.0.1:$(node_port "$1")"; }
node_count() { cat "$run/count"; }
is_running() { [[ -f $run/node-$1.pid ]] && kill -0 "$(cat "$run/node-$1.pid")" 2>/dev/null; }
check_index() {
  [[ -f $run/count ]] || die "no cluster here (run: cluster.sh up N)"
  [[ $1 =~ ^[0-9]+$ ]] && (($1 < $(node_count))) || die "node index must be 0..$(( $(node_count) - 1 ))"
}

start_node() {
  local i=$1 seeds="" s
  for s in 0 1 2; do
    ((s < $(node_count))) && seeds+="${seeds:+,}$(node_addr "$s")"
  done
  # shellcheck disable=SC2086
  # Node 0 serves /metrics and the web page /ui at its port + 2000.
  local metrics=()
  ((i == 0)) && metrics=(--metrics "127.0.0.1:$(( $(node_port 0) + 2000 ))")
  "$(bin_dir)/shoald" --listen "$(node_addr "$i")" --seeds "$seeds" "${metrics[@]}" ${SHOALD_FLAGS:-} \
    >>"$run/node-$i.log" 2>&1 &
  echo $! >"$run/node-$i.pid"
}

first_running() {
  local i
  for ((i = 0; i < $(node_count); i++)); do is_running "$i" && { echo "$i"; return; }; done
  echo 0
}
# The CLI, pointed at node $NODE (default: the first running node).
shoal_cli() { "$(bin_dir)/shoal" --node "$(node_addr "${NODE:-$(first_running)}")" "$@"; }

# Polls `shoal status` until the cluster converges: bounded by a deadline.
wait_converged() {
  local deadline=$((SECONDS + ${1:-60})) i
  while ((SECONDS < deadline)); do
    shoal_cli --timeout-ms 1000 status >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

cmd=${1:-}
[[ -n $cmd ]] || { usage; exit 2; }
shift
case "$cmd" in
  up)
    n=${1:-}
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 2000)) || die "up: N must be 1..2000"
    shift
    base=7000
    while (($#)); do
      case "$1" in
        --base-port) base=${2:-}; shift 2 ;;
        *) die "up: unknown option '$1'" ;;
      esac
    done
    [[ $base =~ ^[0-9]+$ ]] && ((base >= 1024 && base + n <= 65535)) || die "--base-port must leave room for N ports below 65536"
    if [[ -f $run/count ]]; then
      for ((i = 0; i < $(node_count); i++)); do
        is_running "$i" && die "a cluster is already running (cluster.sh down first)"
      done
    fi
    ensure_built
    rm -rf "$run"
    mkdir -p "$run"
    echo "$base" >"$run/base_port"
    echo "$n" >"$run/count"
    start=$SECONDS
    for ((i = 0; i < n; i++)); do start_node "$i"; done
    echo "started $n nodes on 127.0.0.1:$base..$((base + n - 1)); waiting for convergence..."
    if ! wait_converged 120; then
      echo "cluster.sh: not converged after 120 s; see $run/node-*.log" >&2
      exit 1
    fi
    echo "converged in $((SECONDS - start)) s"
    shoal_cli members
    shoal_cli status | tail -n 1
    echo "web page: http://127.0.0.1:$(( base + 2000 ))/ui (node 0; also /metrics)"
    ;;
  down)
    [[ -f $run/count ]] || exit 0
    for ((i = 0; i < $(node_count); i++)); do
      is_running "$i" && kill -TERM "$(cat "$run/node-$i.pid")" 2>/dev/null || true
    done
    for ((t = 0; t < 50; t++)); do
      alive=0
      for ((i = 0; i < $(node_count); i++)); do is_running "$i" && alive=1; done
      ((alive == 0)) && break
      sleep 0.1
    done
    for ((i = 0; i < $(node_count); i++)); do
      is_running "$i" && kill -KILL "$(cat "$run/node-$i.pid")" 2>/dev/null || true
    done
    echo "stopped"
    ;;
  status) shoal_cli status "$@" ;;
  members) shoal_cli members "$@" ;;
  kill) check_index "${1:-x}"; kill -KILL "$(cat "$run/node-$1.pid")"; echo "killed node $1 ($(node_addr "$1"))" ;;
  start)
    check_index "${1:-x}"
    is_running "$1" && die "node $1 is running"
    ensure_built
    start_node "$1"
    echo "started node $1 ($(node_addr "$1"))"
    ;;
  leave) check_index "${1:-x}"; kill -TERM "$(cat "$run/node-$1.pid")"; echo "node $1 leaving" ;;
  logs) check_index "${1:-x}"; cat "$run/node-$1.log" ;;
  -h|--help|help) usage ;;
  *) usage; exit 2 ;;
esac
