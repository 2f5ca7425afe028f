// Copyright shoal authors. The two functions types.h declares: a status's
// name, and the labels size check.

#include "shoal/membership/types.h"

#include <string>
#include <string_view>

namespace shoal::membership {

std::string check_labels(const Labels& labels) {
  const size_t n = labels_bytes(labels);
  if (n <= kLabelsBytesMax) return {};
  return "labels: " + std::to_string(n) + " bytes, over the " + std::to_string(kLabelsBytesMax) +
         "-byte limit";
}

std::string_view to_string(Status s) {
  switch (s) {
    case Status::kAlive:
      return "alive";
    case Status::kSuspect:
      return "suspect";
    case Status::kFaulty:
      return "faulty";
    case Status::kLeave:
      return "leave";
    case Status::kTombstone:
      return "tombstone";
  }
  // Only reachable through a cast of an out-of-range value: a bug, but a
  // name for it is more useful in a log line than a crash.
  return "unknown";
}

}  // namespace shoal::membership
