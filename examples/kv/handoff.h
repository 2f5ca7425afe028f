// Copyright shoal authors. Handoff pushes that never stall: entries owed
// to other members, queued per member and pushed in the background, each
// member on its own schedule.
//
//   add(member, entries) --> that member's queue (one entry per key: the
//                            highest version) --> a push of up to
//                            kBatchEntries (and about kBatchBytes) when due
//        pushed:  those entries leave the queue (unless a newer version
//                 of a key came meanwhile); the member is due again at once
//        failed:  the member is due again after a backoff (100 ms, doubling
//                 to 5 s); the others are not held up
//   keep_only(ring members): queues of members no longer in the ring are
//                 dropped (the ring change that removed them handed their
//                 keys to new holders; one that comes back is pushed what
//                 it holds by the change that adds it, and pulls)
//
// One thread pushes; a member that does not answer costs it one attempt
// (bounded by the push's own timeouts) per backoff, not five in a row.
// Thread safety: every method from any thread.

#ifndef SHOAL_EXAMPLES_KV_HANDOFF_H_
#define SHOAL_EXAMPLES_KV_HANDOFF_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "wire.h"

namespace kv {

class Handoff {
 public:
  // Sends a batch to a member; true once it has them. Called on the
  // handoff thread only.
  using Push = std::function<bool(const std::string& member, const std::vector<Entry>& entries)>;
  static constexpr size_t kBatchEntries = 1000;
  // A batch stops growing past this many bytes of keys and values (it goes
  // in one shoal frame, at most 16 MiB; one entry is at most 1 MiB).
  static constexpr size_t kBatchBytes = 4u << 20;
  static constexpr std::chrono::milliseconds kBackoffMin{100};
  static constexpr std::chrono::milliseconds kBackoffMax{5000};

  explicit Handoff(Push push);
  ~Handoff();  // stops; what is queued is dropped
  Handoff(const Handoff&) = delete;
  Handoff& operator=(const Handoff&) = delete;

  void add(const std::string& member, const std::vector<Entry>& entries);
  // Drops the queues of members not in `members`.
  void keep_only(const std::set<std::string>& members);

  // Entries waiting to be pushed, all members together.
  size_t pending() const;
  // Waits until nothing is pending; false on timeout.
  bool wait_empty(std::chrono::milliseconds timeout);
  uint64_t pushed() const { return pushed_.load(); }
  // Pushes that failed (each is tried again after its backoff).
  uint64_t failed() const { return failed_.load(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Queue {
    std::map<std::string, Entry> entries;  // by key
    Clock::time_point due{};
    std::chrono::milliseconds backoff{0};
  };
  void run();
  // Takes a batch of a due member (empty if none is due) and when the next
  // is due.
  bool take_due(std::string& member, std::vector<Entry>& batch, Clock::time_point& next);
  void done(const std::string& member, const std::vector<Entry>& batch, bool ok);

  Push push_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Queue> queues_;  // guarded by mu_
  size_t pending_ = 0;                   // guarded by mu_
  bool stopping_ = false;                // guarded by mu_
  std::atomic<uint64_t> pushed_{0};
  std::atomic<uint64_t> failed_{0};
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace kv

#endif  // SHOAL_EXAMPLES_KV_HANDOFF_H_
