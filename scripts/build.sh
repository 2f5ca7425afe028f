#!/usr/bin/env bash
# Configures and builds shoal with CMake + Ninja, installing missing Debian
# packages first (scripts/setup.sh).
#
#   scripts/build.sh [--asan | --tsan | --release] [ninja targets...]
#
# Build directories: build/ (RelWithDebInfo, the default), build-asan/
# (ASan+UBSan), build-tsan/ (TSan), build-release/ (Release, benchmarks).
# Prints the build directory on the last line of stdout. The project's own
# builds treat warnings as errors (SHOAL_WERROR=ON); a plain `cmake` build
# does not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

dir=build
type=RelWithDebInfo
sanitize=""
cc_args=()
targets=()
for arg in "$@"; do
  case "$arg" in
    --asan) dir=build-asan; sanitize="address,undefined"; type=Debug ;;
    --tsan) dir=build-tsan; sanitize="thread"; type=RelWithDebInfo ;;
    --release) dir=build-release; type=Release ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "build.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done

if [[ -n $sanitize ]]; then
  # Sanitizer runtimes ship with clang; gcc's work too, but clang's TSan has
  # fewer false positives on std::atomic<std::shared_ptr>.
  SHOAL_SETUP_CLANG=1 "$root/scripts/setup.sh"
  cc_args+=(-DCMAKE_CXX_COMPILER=clang++)
else
  "$root/scripts/setup.sh"
fi

if [[ ! -f "$root/$dir/build.ninja" ]]; then
  cmake -S "$root" -B "$root/$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" \
    -DSHOAL_SANITIZE="$sanitize" -DSHOAL_WERROR=ON "${cc_args[@]}" >&2
fi
# 2 cores: two compile jobs at most, so a build never starves the machine.
ninja -C "$root/$dir" -j "${SHOAL_JOBS:-2}" "${targets[@]}" >&2
echo "$root/$dir"
