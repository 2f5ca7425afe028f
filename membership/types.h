// Copyright shoal authors. Value types of the membership core.
//
// The core never reads a clock: every entry point takes `now`, an Instant
// on a monotonic time line whose epoch the driver chooses (the node uses
// steady_clock's epoch, the simulator virtual time from 0). MonoClock has
// no now() on purpose.

#ifndef SHOAL_MEMBERSHIP_TYPES_H_
#define SHOAL_MEMBERSHIP_TYPES_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace shoal::membership {

struct MonoClock {
  using rep = int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<MonoClock>;
  static constexpr bool is_steady = true;
};
using Duration = std::chrono::nanoseconds;
using Instant = MonoClock::time_point;

inline constexpr Instant kNever = Instant::max();

// Starts at the wall-clock milliseconds when the node process starts
// (supplied by the driver), so a restarted node outranks its former self.
using Incarnation = uint64_t;

// Member status in precedence order: at equal incarnation the higher value
// wins. The numeric values are the wire values (proto Status).
enum class Status : uint8_t {
  kAlive = 0,
  kSuspect = 1,
  kFaulty = 2,
  kLeave = 3,
  kTombstone = 4,
};
inline constexpr int kStatusCount = 5;

std::string_view to_string(Status s);

// Alive and suspect members are probed and own keys on the ring.
inline bool is_pingable(Status s) { return s == Status::kAlive || s == Status::kSuspect; }

// Small string map, sorted so that iteration order is deterministic.
using Labels = std::map<std::string, std::string, std::less<>>;

// A member's labels ride in every alive claim about it, and in every join
// and sync answer: at most this many bytes of keys and values in all
// (memberlist's MetaMaxSize). Enforced when set (Config::validate) and on
// receipt (the codec rejects a claim that carries more).
inline constexpr size_t kLabelsBytesMax = 512;
inline size_t labels_bytes(const Labels& labels) {
  size_t n = 0;
  for (const auto& [k, v] : labels) n += k.size() + v.size();
  return n;
}
// "" if `labels` are within kLabelsBytesMax, else "labels: N bytes, over
// the 512-byte limit".
std::string check_labels(const Labels& labels);

// True if claim (inc_a, status_a) overrides (inc_b, status_b) about the same
// member: a higher incarnation wins; at equal incarnation the higher status.
inline bool overrides(Incarnation inc_a, Status status_a, Incarnation inc_b, Status status_b) {
  if (inc_a != inc_b) return inc_a > inc_b;
  return static_cast<int>(status_a) > static_cast<int>(status_b);
}

// A member's full state, as exchanged by join and full sync.
struct MemberState {
  std::string name;
  Status status = Status::kAlive;
  Incarnation incarnation = 0;
  Labels labels;
  std::string address{};  // "" = name
  bool operator==(const MemberState&) const = default;
};

// Where a member is reached: its address field, or its name if that is
// empty (a default name).
inline const std::string& address_of(const MemberState& s) {
  return s.address.empty() ? s.name : s.address;
}

// Something changed about a member: it appeared, changed status or
// incarnation, or was forgotten. Drives the ring, events and logs.
struct MemberEvent {
  std::string name;
  std::optional<Status> old_status;  // nullopt: newly known
  Status status = Status::kAlive;    // current (if forgotten: the last one)
  Incarnation incarnation = 0;
  std::string source;  // who made the claim that caused it
  bool forgotten = false;
  Labels labels;          // the member's, as of this event
  std::string address{};  // where the member is reached (its name by default)
};

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_TYPES_H_
