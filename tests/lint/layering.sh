#!/usr/bin/env bash
# Architecture lint, run by ctest.
#
#   tests/lint/layering.sh ROOT
#
# The pure layers may not do I/O, start threads, read a clock or draw OS
# entropy (time and randomness are injected):
#   ring/, membership/   no Asio, sockets, threads, node/, spdlog, protobuf
#   proto/               the same, protobuf allowed (the codec is its bridge)
#   node/ sans-I/O part  engine, forwarder, ring_feed, counters, handler: no Asio,
#                        sockets, threads or spdlog; node/ headers of that
#                        part only (the simulator links it)
#   public headers       (CMakeLists.txt SHOAL_PUBLIC_HEADERS: what an app
#                        compiles) no Asio; shoal headers of that list only
#   tests/sim            no Asio or sockets; node/ headers of the sans-I/O
#                        part only (it drives the engine in virtual time;
#                        its wall-clock timing of runs is allowed)
# ring/ and membership/ do not know each other (membership/assert.h, the
# shared std-only assertion header, excepted).
# Prints every violation as FILE:LINE: text, and exits 1 if there is any.
set -euo pipefail
root=${1:?usage: layering.sh ROOT}
cd "$root"

io='asio([./][^>"]*)?|boost/asio[^>"]*|sys/socket\.h|netinet/[^>"]*|arpa/inet\.h|netdb\.h|unistd\.h|poll\.h|sys/epoll\.h'
threads='thread|mutex|shared_mutex|condition_variable|future|stop_token|semaphore|latch|barrier|pthread\.h'
# seal.h and keyring.h are allowed: the engine seals through them; their .cc
# files draw nonces from the OS (only in sealed modes, which the simulator
# does not run) and read the keyring file (only the driver calls that).
sansio_node='node/(engine|forwarder|forwarding|ring_feed|events|counters|histogram|handler|replication|replicator|seal|keyring|app|app_router|string_hash)\.h'
# Project headers are spelled shoal/<dir>/... (the fixtures use the bare
# <dir>/... of older code: both are checked).
include_of() { echo '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](shoal/)?('"$1"')[>"]'; }
# Clocks, sleeps and ambient randomness.
banned_calls='(::now[[:space:]]*\(|\b(s?rand|random|drand48|lrand48)[[:space:]]*\(|random_device|sleep_for|sleep_until|\busleep[[:space:]]*\(|\bnanosleep[[:space:]]*\(|gettimeofday|clock_gettime|\btime[[:space:]]*\([[:space:]]*(nullptr|NULL|0)[[:space:]]*\)|std::this_thread)'

status=0
# report FILE PATTERN-OUTPUT WHY
report() {
  sed "s|^|$1:|; s|\$|   <- $3|" <<<"$2"
  status=1
}
sources() {
  find "$@" -type f \( -name '*.h' -o -name '*.cc' -o -name '*.cpp' -o -name '*.hpp' \) \
    -print0 2>/dev/null | sort -z
}
# check FILE BANNED-INCLUDE-REGEX CALLS(yes/no) WHAT
check() {
  local f=$1 inc=$2 calls=$3 what=$4 out
  if out=$(grep -nE "$inc" "$f"); then report "$f" "$out" "banned include in $what"; fi
  if [[ $calls == yes ]] && out=$(sed 's|//.*$||' "$f" | grep -nE "$banned_calls"); then
    report "$f" "$out" "clock/sleep/entropy in $what (inject it)"
  fi
}

pure=$(include_of "$io|$threads|node/[^>\"]*|spdlog/[^>\"]*|google/protobuf/[^>\"]*")
codec=$(include_of "$io|$threads|node/[^>\"]*|spdlog/[^>\"]*")
for dir in ring membership; do
  [[ -d $dir ]] || continue
  while IFS= read -r -d '' f; do check "$f" "$pure" yes "pure module $dir/"; done < <(sources "$dir")
done
while IFS= read -r -d '' f; do
  check "$f" "$(include_of 'membership/(types|messages|membership|config|stats|rng|dissemination|lifeguard)\.h')" \
    no "ring/ (ring and membership do not know each other)"
done < <(sources ring)
while IFS= read -r -d '' f; do check "$f" "$codec" yes "proto/"; done < <(sources proto)
# node/'s sans-I/O part: its own files, and which node/ headers they use.
while IFS= read -r -d '' f; do
  case $f in
    node/engine.* | node/forwarder.* | node/forwarding.* | node/ring_feed.* | node/events.* | \
      node/counters.* | node/histogram.* | node/handler.* | \
      node/replication.* | node/replicator.*) ;;
    *) continue ;;
  esac
  check "$f" "$(include_of "$io|$threads|spdlog/[^>\"]*")" yes "node/'s sans-I/O part"
  if out=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"(shoal/)?node/' "$f" | grep -vE "\"(shoal/)?$sansio_node\""); then
    report "$f" "$out" "node/'s sans-I/O part includes an I/O header"
  fi
done < <(sources node)
# The installed headers: an app compiles them, so no Asio and nothing
# internal (the list is the one CMakeLists.txt installs).
public=$(sed -n '/^set(SHOAL_PUBLIC_HEADERS/,/)/p' CMakeLists.txt 2>/dev/null |
  sed 's/set(SHOAL_PUBLIC_HEADERS//; s/)//' | tr -s ' \n' '\n' | grep -v '^$' | sed 's/[.]/[.]/g' |
  paste -sd '|' -)
if [[ -n $public ]]; then
  while IFS= read -r -d '' f; do
    [[ $f =~ ^($public)$ ]] || continue
    check "$f" "$(include_of "$io")" no "a public header (an app compiles it)"
    if out=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"(shoal/)?(node|membership|ring|proto)/' "$f" |
      grep -vE "\"(shoal/)?($public)\""); then
      report "$f" "$out" "a public header includes an internal one"
    fi
  done < <(sources node membership ring)
fi
while IFS= read -r -d '' f; do
  check "$f" "$(include_of "$io")" no "tests/sim (the simulator never links Asio)"
  if out=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"(shoal/)?node/' "$f" | grep -vE "\"(shoal/)?$sansio_node\""); then
    report "$f" "$out" "tests/sim includes an I/O header of node/"
  fi
done < <(sources tests/sim)

if ((status == 0)); then
  echo "layering: ring/, membership/, proto/, node/'s sans-I/O part, the public headers and tests/sim are clean"
fi
exit $status
