#!/usr/bin/env bash
# Formats shoal's C++ sources in place with clang-format (.clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z -- '*.h' '*.cc' ':!:tests/lint/fixtures/*' | xargs -0 clang-format -i
