// Copyright shoal authors. The io loop's relief: quick handlers run on the
// io thread's own thread, with no hand-off, and a relief thread takes the
// io loop over as soon as one of them is slow.
//
// Why: handing every request to a handler thread and its answer back costs
// two thread crossings. With quick handlers that was half of all CPU (perf,
// 3 nodes on 2 cores: 0.41 context switches and 2.0 syscalls per request
// against 0.05 and 0.64 inline; 13 us of CPU per request against 6), so
// the default options ran at half the inline speed. Running handlers on the
// io thread is what made a slow handler dangerous: probes and acks wait
// behind it, and its node gets suspected. The relief keeps the first and
// removes the danger, as Go's runtime retakes a processor from a thread
// stuck in a system call (sysmon):
//
//   io thread (the owner)                     relief thread
//   flush: begin_inline() -----------------> polls every `after` while inline
//          handler, handler, ...               runs happen, sleeps otherwise
//          end_inline(): still the owner?      a run seen at two polls in a row
//            yes: take the answers here          (stuck >= after), or hurried:
//            no: hand the rest to the pool  <--- takes the io loop (lead())
//   run_io: take_back() waits -------------> hands the loop back after the
//                                            completion it runs
//
// A slow handler thus holds the io loop for at most about 2 x `after`
// (1 ms by default); for a second after that, every handler goes to the
// handler threads (they are probably slow). While the relief thread leads,
// it runs no handler itself. A handler that waits for the io loop (a
// blocking Node call) hurries the relief (Node::Impl::on_io).
//
// The state is one atomic word: a run count and who holds the loop, so the
// owner's end of a run and the relief's take-over cannot both win.
//
// Inline runs happen only between two completions of the owner's loop
// (Node::Impl::run_io), never inside one: there no io frames are on the
// stack, so the owner may stop and let the relief run the loop.
//
// Thread safety: begin_inline/end_inline/may_run_inline/take_back on the
// owner's thread; hurry() from the owner's thread in an inline run; the
// rest from any thread.

#ifndef SHOAL_NODE_IO_RELIEF_H_
#define SHOAL_NODE_IO_RELIEF_H_

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace shoal::node {

class IoRelief {
 public:
  struct Hooks {
    // The io loop runs on this thread from now on (Node::Impl::io_thread_id).
    std::function<void(std::thread::id)> set_io_thread;
    // Run on the relief thread right after it took the loop (it is the io
    // thread now): the stuck run's other handlers go to the handler threads,
    // and the answers that came during it are taken.
    std::function<void()> on_take;
    // A completion the relief thread ran threw (counted and logged, as the
    // owner's own loop does).
    std::function<void(const char* what)> on_exception;
  };

  IoRelief(asio::io_context& io, Hooks hooks) : io_(io), hooks_(std::move(hooks)) {}
  ~IoRelief() { stop(); }
  IoRelief(const IoRelief&) = delete;
  IoRelief& operator=(const IoRelief&) = delete;

  // Starts the relief thread, polling every `after` (0: no relief; handlers
  // never run on the owner's thread). The caller's thread is not the owner
  // yet: set_owner() is called by the io thread itself.
  void start(std::chrono::microseconds after);
  // Ends the relief thread (after the owner's io loop ended).
  void stop();
  // The calling thread is the owner: the io thread that runs inline runs.
  void set_owner();
  // start() started a relief thread: the owner runs its loop one
  // completion at a time and flushes the handler gate between them.
  bool enabled() const { return enabled_; }

  // The calling thread is the owner and flushes the handler gate between
  // completions (Node::Impl::run_io), so dispatch posts no flush.
  bool owner_flushes() const;
  // On the owner's thread, between completions: may it run handlers now? (The
  // relief runs; the owner holds the loop; no take-over in the last second.)
  bool may_run_inline() const;
  void begin_inline();
  // The relief thread took the loop during this run: run nothing more here.
  bool moved() const { return mode(state_.load(std::memory_order_acquire)) == kRelief; }
  // Ends the run: true if the owner still holds the loop; false if the
  // relief took it, and then the caller must touch no io state: it returns
  // to the owner's loop, which calls take_back().
  bool end_inline();
  // The owner's loop, outside any completion: after a take-over, waits
  // until the loop is handed back (or the io context stopped).
  bool taken() const { return mode(state_.load(std::memory_order_acquire)) == kRelief; }
  void take_back();
  // The calling thread is the owner, in an inline run (not the io thread
  // for that while: it must post to the loop like any other thread).
  static bool inline_here();
  // From an inline run about to wait for the io loop: take it now.
  void hurry();
  // hurry() for the relief whose inline run the calling thread is in, if any.
  static void hurry_current();
  // The calling thread is in this relief's owner's inline run.
  bool inline_run_here() const;
  // Take-overs so far (any thread).
  uint64_t takeovers() const { return takeovers_.load(std::memory_order_relaxed); }

 private:
  enum Mode : uint64_t { kOwner = 0, kInline = 1, kRelief = 2 };
  static Mode mode(uint64_t s) { return static_cast<Mode>(s & 3); }
  using Clock = std::chrono::steady_clock;

  void watch();  // the relief thread
  // Polls while inline runs happen; false once they stopped (sleep).
  bool poll(std::unique_lock<std::mutex>& lock, uint64_t& seen, int& quiet);
  void lead();  // runs the io loop here until handed back

  asio::io_context& io_;
  const Hooks hooks_;
  std::chrono::microseconds after_{0};
  bool enabled_ = false;                   // set by start(), before the owner runs
  std::atomic<uint64_t> state_{kOwner};    // (runs << 2) | Mode
  std::atomic<bool> watching_{false};      // the relief thread polls
  std::atomic<bool> give_back_{false};     // the owner waits for the loop
  std::atomic<int64_t> cool_until_ns_{0};  // no inline runs before (steady clock)
  std::atomic<uint64_t> takeovers_{0};
  std::thread::id owner_;  // set once by set_owner()
  uint64_t runs_ = 0;      // owner's thread only
  std::mutex mu_;
  std::condition_variable wake_cv_;  // to the relief thread
  std::condition_variable back_cv_;  // to the owner
  bool wake_ = false;                // guarded by mu_
  bool hurry_ = false;               // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  std::thread thread_;
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_IO_RELIEF_H_
