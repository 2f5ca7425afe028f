#!/usr/bin/env bash
# Checks that shoal's C++ sources follow .clang-format (Google style, 100
# columns). Fix with: scripts/format.sh
set -euo pipefail
root=${1:?usage: format.sh ROOT}
cd "$root"
fmt=$(command -v clang-format-14 || command -v clang-format || true)
[[ -n $fmt ]] || { echo "format: clang-format not installed (scripts/setup.sh installs it)" >&2; exit 1; }
mapfile -d '' files < <(git ls-files -z -- '*.h' '*.cc' ':!:tests/lint/fixtures/*' 2>/dev/null ||
  find ring membership node cli tests proto examples \( -name '*.h' -o -name '*.cc' \) -print0)
((${#files[@]})) || { echo "format: no sources found" >&2; exit 1; }
"$fmt" --dry-run --Werror "${files[@]}"
echo "format: ${#files[@]} files clean"
