#!/usr/bin/env bash
# Rewrites the counters table of docs/OPERATIONS.md (between its
# "counters:begin" and "counters:end" markers) from node/counters.h, by way
# of `shoal counters`. The unit test Counters.DocsTableMatchesTheCode fails
# until the two agree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$("$root/scripts/build.sh" shoal-cli | tail -n 1)
table=$("$dir/cli/shoal" counters)
python3 - "$root/docs/OPERATIONS.md" "$table" <<'PY'
import sys
path, table = sys.argv[1], sys.argv[2]
doc = open(path).read()
begin, end = "<!-- counters:begin -->\n", "<!-- counters:end -->"
b, e = doc.index(begin), doc.index(end)
open(path, "w").write(doc[: b + len(begin)] + table + "\n" + doc[e:])
PY
echo "docs/OPERATIONS.md: counters table updated"
