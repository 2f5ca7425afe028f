// Copyright shoal authors. Hands ring snapshots from one writer to any
// number of reader threads without locks.
//
//   writer (io thread)                    reader threads
//   ------------------                    --------------
//   publish(snap):                        RingReader::get():
//     current_.store(snap)  ---.            v = version_.load(acquire)
//     version_ += 1 (release)   `------>    if v != cached: cached = current()
//                                           return *cached
//
// A RingReader caches the snapshot it last saw, so in the steady state a
// lookup costs one acquire load of a counter that only the writer touches:
// no reference-count traffic between reader cores, no lock. current() (an
// atomic shared_ptr load) is for one-off readers.
//
// Thread safety: publish() from one thread at a time; current() and
// version() from any thread. A RingReader belongs to one thread.
// Lifetimes: the publisher must outlive its readers. A reader keeps its
// cached snapshot alive until it refreshes or is destroyed.

#ifndef SHOAL_RING_PUBLISHER_H_
#define SHOAL_RING_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "shoal/ring/ring.h"

namespace shoal::ring {

class RingPublisher {
 public:
  explicit RingPublisher(std::shared_ptr<const Ring> initial = std::make_shared<const Ring>())
      : current_(std::move(initial)) {}

  RingPublisher(const RingPublisher&) = delete;
  RingPublisher& operator=(const RingPublisher&) = delete;

  void publish(std::shared_ptr<const Ring> snapshot) {
    current_.store(std::move(snapshot), std::memory_order_release);
    version_.fetch_add(1, std::memory_order_release);
  }

  std::shared_ptr<const Ring> current() const { return current_.load(std::memory_order_acquire); }

  // Increases by one per publish().
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const Ring>> current_;
  std::atomic<uint64_t> version_{0};
};

class RingReader {
 public:
  explicit RingReader(const RingPublisher& publisher)
      : publisher_(&publisher), version_(publisher.version()), cached_(publisher.current()) {}

  // The newest snapshot; valid until the next get() on this reader.
  const Ring& get() {
    const uint64_t v = publisher_->version();
    if (v != version_) [[unlikely]] {
      // Load the snapshot after the version: if another publish lands in
      // between, the snapshot is newer than v and the next get() reloads.
      cached_ = publisher_->current();
      version_ = v;
    }
    return *cached_;
  }

  // The snapshot get() returned last, as a shared_ptr to keep.
  const std::shared_ptr<const Ring>& snapshot() const { return cached_; }

 private:
  const RingPublisher* publisher_;
  uint64_t version_;
  std::shared_ptr<const Ring> cached_;
};

}  // namespace shoal::ring

#endif  // SHOAL_RING_PUBLISHER_H_
