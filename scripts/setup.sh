#!/usr/bin/env bash
# Installs the Debian packages shoal needs to build, test and benchmark
# (chromium: the headless browser of the `browser` test, which skips
# without it).
# Idempotent: installs only what is missing, and runs `apt-get update` only
# when something must be installed. Safe to run on every build.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git clang-format
  libasio-dev
  libprotobuf-dev protobuf-compiler
  libxxhash-dev
  libfmt-dev libspdlog-dev
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libsodium-dev libzstd-dev
  libgoogle-perftools-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-xxhash python3-yaml python3-prometheus-client curl
  iproute2 nftables
  chromium
)
# Sanitizer and fuzzer runtimes come with clang; only needed for those builds.
if [[ "${SHOAL_SETUP_CLANG:-0}" == 1 ]]; then
  PACKAGES+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
