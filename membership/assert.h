// Copyright shoal authors. SHOAL_ASSERT: invariants that stay checked in
// every build, the default RelWithDebInfo and Release ones included (the
// simulator runs in those, and a protocol invariant that is compiled out
// there is not tested at all). std-only and header-only, so the pure
// modules (ring/, membership/, proto/) and the drivers share it.
//
// Programmer errors only: a broken invariant means a bug in shoal, so the
// process prints where and aborts. Operating errors (bad input, lost
// packets, full tables) are values and counters, never assertions.
// Keep checks O(1) on hot paths. -DSHOAL_DISABLE_ASSERTS compiles them out
// for a build that measures their cost.

#ifndef SHOAL_MEMBERSHIP_ASSERT_H_
#define SHOAL_MEMBERSHIP_ASSERT_H_

#include <cstdio>
#include <cstdlib>

namespace shoal {
// Prints "FILE:LINE: assertion failed: EXPR" to stderr and aborts.
[[noreturn]] inline void assert_failed(const char* expr, const char* file, int line) noexcept {
  std::fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
  std::abort();
}
}  // namespace shoal

#ifdef SHOAL_DISABLE_ASSERTS
#define SHOAL_ASSERT(cond) static_cast<void>(sizeof(static_cast<bool>(cond)))
#else
#define SHOAL_ASSERT(cond)                        \
  (static_cast<bool>(cond) ? static_cast<void>(0) \
                           : ::shoal::assert_failed(#cond, __FILE__, __LINE__))
#endif

#endif  // SHOAL_MEMBERSHIP_ASSERT_H_
