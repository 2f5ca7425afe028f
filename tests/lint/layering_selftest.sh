#!/usr/bin/env bash
# The lint must catch what it claims to: run it on fixtures with 17 planted
# violations (and allowed lines that must not be reported: a clock named in
# a comment, protobuf in proto/, Asio in an I/O file of node/, the shared
# assertion header in ring/, wall-clock timing in tests/sim, a public
# header including another public one) and expect
# exactly those 17.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$("$here/layering.sh" "$here/fixtures/bad")
rc=$?
count=$(grep -c '<-' <<<"$out")
echo "$out"
if [[ $rc -ne 1 || $count -ne 17 ]]; then
  echo "layering self-test: expected exit 1 and 17 violations, got exit $rc and $count" >&2
  exit 1
fi
echo "layering self-test: all 17 planted violations reported"
