#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time (clang, ASan + UBSan).
#
#   scripts/fuzz.sh [--tests] [SECONDS] [TARGET...]
#
# Configures build-fuzz/ (clang++, -DSHOAL_FUZZ=ON, SHOAL_SANITIZE=
# address,undefined), builds the shoal_<target>_fuzzer binaries, and runs
# each for SECONDS (default 30; 0: none) over a scratch copy of its seed
# corpus in build-fuzz/fuzz-runs/<target>/: tests/fuzz/corpus/ is never
# written. Prints one line per target with its executions, and exits 1 if
# any target found a crash, a leak, a timeout or a sanitizer report (the
# input is saved in its fuzz-runs/<target>/ directory; the line says how to
# replay it). TARGET: codec, frame_buffer, ... (default: every target).
# --tests: then builds the unit, node and simulator tests in the same
# sanitized build and runs them (ctest -L 'unit|node|sim', the simulator's
# small clusters), failing on any sanitizer report. SHOAL_JOBS: parallel
# compile jobs (default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,18p' "$0"; exit 0; fi
tests=0
if [[ ${1:-} == --tests ]]; then tests=1; shift; fi
seconds=${1:-30}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a number (see --help)" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^shoal_fuzz_target(\([a-z_]*\) .*/\1/p' \
    "$root/tests/fuzz/CMakeLists.txt")
fi

SHOAL_SETUP_CLANG=1 "$root/scripts/setup.sh"
dir=$root/build-fuzz
# Warnings are the gcc build's business (scripts/build.sh, -Werror); here
# clang's extra ones (e.g. -Wstring-conversion) must not stop the fuzzing.
if [[ ! -f $dir/build.ninja ]]; then
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DSHOAL_FUZZ=ON -DSHOAL_SANITIZE=address,undefined \
    -DSHOAL_WERROR=OFF -DSHOAL_BUILD_BENCH=OFF >&2
fi
binaries=()
if ((seconds > 0)); then
  for t in "${targets[@]}"; do binaries+=("shoal_${t}_fuzzer"); done
fi
test_binaries=(shoal_ring_tests shoal_membership_tests shoal_proto_tests shoal_engine_tests
  shoal_node_tests shoal_sim_tests)
((tests)) && binaries+=("${test_binaries[@]}")
((${#binaries[@]})) && ninja -C "$dir" -j "${SHOAL_JOBS:-2}" "${binaries[@]}" >&2

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
((seconds > 0)) || targets=()
for t in "${targets[@]}"; do
  bin=$dir/tests/fuzz/shoal_${t}_fuzzer
  work=$dir/fuzz-runs/$t
  rm -rf "$work"
  mkdir -p "$work/corpus"
  cp -r "$root/tests/fuzz/corpus/$t/." "$work/corpus/"
  status=0
  # New inputs go to the scratch corpus; crash-*, leak-*, timeout-* beside it.
  "$bin" "$work/corpus" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$work/" >"$work/log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  if ((status == 0)); then
    printf '%-14s ok      %10s executions in %ss\n' "$t" "${execs:-?}" "$seconds"
  else
    failed=1
    artifact=$(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null |
      head -n 1 || true)
    printf '%-14s FAILED  %10s executions (exit %s); log %s\n' "$t" "${execs:-?}" "$status" \
      "$work/log"
    [[ -n $artifact ]] && echo "    replay: $bin $artifact"
  fi
done

if ((tests)); then
  echo "unit, node and simulator tests under ASan + UBSan ($dir):"
  # Sanitizers run the simulator 10-30x slower: its small clusters.
  if ! (cd "$dir" && SHOAL_SIM_SMALL=1 ASAN_OPTIONS=$ASAN_OPTIONS:abort_on_error=1 \
    ctest --output-on-failure -j "${SHOAL_JOBS:-2}" --timeout 600 -L 'unit|node|sim'); then
    failed=1
  fi
fi
exit "$failed"
