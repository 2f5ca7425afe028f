#!/usr/bin/env bash
# The function-length lint must catch what it claims to: generated fixtures
# with two functions over 80 lines (a free function of 81 lines, a method
# defined in its class) and three things it must not report (a function of
# exactly 80 lines, a long brace initializer, braces inside a string and a
# comment).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/node"
body() { for ((i = 0; i < $1; ++i)); do echo "  x += $i;"; done; }
{
  echo "int ok80(int x) {"; body 78; echo "  return x; }"           # 80 lines
  echo "int bad81(int x) {"; body 79; echo "  return x; }"          # 81 lines
  echo "const int table[] = {"; for ((i = 0; i < 100; ++i)); do echo "  $i,"; done; echo "};"
  echo "int strings(int x) {"; echo '  const char* s = "{{{{"; // }}}'; echo "  return x; }"
  echo "struct S {"; echo "  int method(int x) {"; body 85; echo "    return x;"; echo "  }"; echo "};"
} >"$work/node/fixture.cc"
set +e
out=$(python3 "$here/function_length.py" "$work" node)
rc=$?
set -e
echo "$out"
count=$(grep -c 'lines (max 80)' <<<"$out" || true)
if [[ $rc -ne 1 || $count -ne 2 ]] || ! grep -q 'bad81 is 81' <<<"$out" ||
   ! grep -q 'method is 88' <<<"$out"; then
  echo "function-length self-test: expected bad81 (81 lines) and method (88 lines), got exit $rc" >&2
  exit 1
fi
echo "function-length self-test: both planted long functions reported, nothing else"
