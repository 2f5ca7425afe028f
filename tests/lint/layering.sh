#!/usr/bin/env bash
# Architecture lint (STYLE.md habit 14), run by ctest.
#
#   tests/lint/layering.sh ROOT
#
# ring/ and membership/ are pure: they must not include Asio, socket,
# thread or node/ headers, and must not read a clock or draw OS entropy
# (time and randomness are injected). Prints every violation as
# FILE:LINE: text, and exits 1 if there is any.
set -euo pipefail
root=${1:?usage: layering.sh ROOT}
cd "$root"

# Headers that bring I/O, threads or the runtime into a pure module.
banned_includes='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]('\
'asio([./][^>"]*)?|boost/asio[^>"]*|thread|mutex|shared_mutex|condition_variable|future|stop_token|semaphore|latch|barrier|'\
'sys/socket\.h|netinet/[^>"]*|arpa/inet\.h|netdb\.h|unistd\.h|pthread\.h|poll\.h|sys/epoll\.h|'\
'node/[^>"]*|spdlog/[^>"]*|google/protobuf/[^>"]*)[>"]'
# Clocks, sleeps and ambient randomness.
banned_calls='(::now[[:space:]]*\(|\b(s?rand|random|drand48|lrand48)[[:space:]]*\(|random_device|sleep_for|sleep_until|\busleep[[:space:]]*\(|\bnanosleep[[:space:]]*\(|gettimeofday|clock_gettime|\btime[[:space:]]*\([[:space:]]*(nullptr|NULL|0)[[:space:]]*\)|std::this_thread)'

status=0
for dir in ring membership; do
  [[ -d $dir ]] || continue
  while IFS= read -r -d '' f; do
    # Strip // comments before matching calls, so prose may name them.
    if out=$(grep -nE "$banned_includes" "$f"); then
      sed "s|^|$f:|; s|\$|   <- banned include in pure module $dir/|" <<<"$out"
      status=1
    fi
    if out=$(sed 's|//.*$||' "$f" | grep -nE "$banned_calls"); then
      sed "s|^|$f:|; s|\$|   <- clock/sleep/entropy in pure module $dir/ (inject it)|" <<<"$out"
      status=1
    fi
  done < <(find "$dir" -type f \( -name '*.h' -o -name '*.cc' -o -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z)
done

if ((status == 0)); then echo "layering: ring/ and membership/ are pure"; fi
exit $status
