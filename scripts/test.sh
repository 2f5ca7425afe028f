#!/usr/bin/env bash
# Runs shoal's test suite: installs what is missing, builds, runs ctest.
#
#   scripts/test.sh              default suite (unit, lint, sim, ...)
#   scripts/test.sh --asan       the same under ASan + UBSan (clang)
#   scripts/test.sh --tsan       the same under TSan (clang)
#   scripts/test.sh ... -- ARGS  extra ctest arguments (e.g. -L unit, -R Ring)
#
# The default suite then fuzzes and runs under sanitizers: scripts/fuzz.sh
# --tests runs every libFuzzer target for SHOAL_FUZZ_SECONDS (default 30;
# 0 skips the fuzzing) under clang with ASan + UBSan, then the unit, node
# and small simulator tests in that same build (about 11 minutes with its
# build; SHOAL_SANITIZE_TESTS=0 skips the tests). Not with --asan/--tsan or
# extra ctest arguments.
#
# Exits non-zero if any build step, test or fuzz target fails. .ci/run
# calls this.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

build_args=()
ctest_args=()
while (($#)); do
  case "$1" in
    --asan|--tsan) build_args+=("$1") ;;
    --) shift; ctest_args+=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

dir=$("$root/scripts/build.sh" "${build_args[@]}" | tail -n 1)
cd "$dir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
# Sanitizer builds run the simulator 10-30x slower: smaller clusters there.
if ((${#build_args[@]})); then export SHOAL_SIM_SMALL=${SHOAL_SIM_SMALL:-1}; fi
ctest --output-on-failure -j "${SHOAL_JOBS:-2}" --timeout 600 "${ctest_args[@]}"
fuzz_seconds=${SHOAL_FUZZ_SECONDS:-30}
sanitize_tests=${SHOAL_SANITIZE_TESTS:-1}
if ((${#build_args[@]} == 0 && ${#ctest_args[@]} == 0)); then
  if ((sanitize_tests)); then
    "$root/scripts/fuzz.sh" --tests "$fuzz_seconds"
  elif ((fuzz_seconds > 0)); then
    "$root/scripts/fuzz.sh" "$fuzz_seconds"
  fi
fi
