#!/usr/bin/env bash
# The lint must catch what it claims to: run it on fixtures with 7 planted
# violations (and one in a comment that must be ignored) and expect all 7.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$("$here/layering.sh" "$here/fixtures/bad")
rc=$?
count=$(grep -c '<-' <<<"$out")
echo "$out"
if [[ $rc -ne 1 || $count -ne 7 ]]; then
  echo "layering self-test: expected exit 1 and 7 violations, got exit $rc and $count" >&2
  exit 1
fi
echo "layering self-test: all 7 planted violations reported"
