#!/usr/bin/env bash
# The file-length lint must catch what it claims to: a source of 701 lines
# (membership/over.cc) is the one violation at the default maximum of 700,
# and a source of exactly 700 lines (proto/at_limit.h) passes, alone and
# beside it. The two files are written to a temporary folder here.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$(mktemp -d)
trap 'rm -rf "$fixtures"' EXIT
mkdir -p "$fixtures/membership" "$fixtures/proto"
seq 701 | sed 's|^|// line |' >"$fixtures/membership/over.cc"
seq 700 | sed 's|^|// line |' >"$fixtures/proto/at_limit.h"
fail() {
  echo "file-length self-test: $*" >&2
  exit 1
}

out=$(python3 "$here/file_length.py" "$fixtures" membership proto)
rc=$?
echo "$out"
count=$(grep -c 'lines (max 700)' <<<"$out")
if [[ $rc -ne 1 || $count -ne 1 ]] || ! grep -qx 'membership/over.cc: 701 lines (max 700)' <<<"$out"; then
  fail "expected exit 1 and only membership/over.cc (701 lines), got exit $rc and $count reports"
fi

out=$(python3 "$here/file_length.py" "$fixtures" proto)
rc=$?
echo "$out"
[[ $rc -eq 0 ]] || fail "proto/at_limit.h (exactly 700 lines) was reported: exit $rc"

out=$(python3 "$here/file_length.py" "$fixtures" --max 701 membership proto)
rc=$?
echo "$out"
[[ $rc -eq 0 ]] || fail "--max 701 still reported membership/over.cc: exit $rc"
echo "file-length self-test: the 701-line file reported, the 700-line one not"
