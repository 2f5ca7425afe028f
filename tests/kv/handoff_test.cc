// The kv example's handoff queue (examples/kv/handoff.h): a member that
// does not answer is retried with backoff and never holds up the others;
// what it is owed stays until it takes it or leaves the ring.

#include "handoff.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/node/eventually.h"

namespace kv {
namespace {

using shoal::node::eventually;
using std::chrono::milliseconds;

std::vector<Entry> entries(int n, uint64_t version = 1, const std::string& prefix = "k") {
  std::vector<Entry> out;
  for (int i = 0; i < n; ++i) out.push_back({prefix + std::to_string(i), version, "v"});
  return out;
}

struct Fake {
  std::mutex mu;
  std::set<std::string> down;
  std::map<std::string, std::map<std::string, uint64_t>> got;  // member -> key -> version
  std::map<std::string, int> tries;
  bool push(const std::string& member, const std::vector<Entry>& batch) {
    std::lock_guard lock(mu);
    ++tries[member];
    if (down.count(member) != 0) return false;
    for (const Entry& e : batch) got[member][e.key] = e.version;
    return true;
  }
  size_t received(const std::string& member) {
    std::lock_guard lock(mu);
    return got[member].size();
  }
  int tried(const std::string& member) {
    std::lock_guard lock(mu);
    return tries[member];
  }
};

// A batch goes in one shoal frame (16 MiB at most): big values make
// smaller batches, never a frame too big to send.
TEST(KvHandoff, BatchesAreBoundedInBytes) {
  std::mutex mu;
  std::vector<size_t> bytes;
  Handoff h([&](const std::string&, const std::vector<Entry>& b) {
    size_t n = 0;
    for (const Entry& e : b) n += e.key.size() + e.value.size();
    std::lock_guard lock(mu);
    bytes.push_back(n);
    return true;
  });
  std::vector<Entry> big;
  for (int i = 0; i < 20; ++i)
    big.push_back({"k" + std::to_string(i), 1, std::string(1 << 20, 'x')});
  h.add("m", big);
  ASSERT_TRUE(h.wait_empty(milliseconds(10000)));
  std::lock_guard lock(mu);
  ASSERT_GE(bytes.size(), 5u);
  for (size_t b : bytes) EXPECT_LE(b, Handoff::kBatchBytes + (1u << 20) + 16);
}

TEST(KvHandoff, AnUnreachableMemberDoesNotHoldUpTheOthers) {
  Fake fake;
  fake.down = {"down"};
  Handoff h([&](const std::string& m, const std::vector<Entry>& b) { return fake.push(m, b); });
  h.add("down", entries(10));
  h.add("up", entries(2500));  // three batches
  ASSERT_TRUE(eventually([&] { return fake.received("up") == 2500; }, milliseconds(10000)));
  EXPECT_EQ(h.pending(), 10u);  // still owed to "down"
  EXPECT_GE(h.failed(), 1u);
  // Backoff: a few tries in the time "up" took, not one per batch of "up".
  EXPECT_LE(fake.tried("down"), 8);
  // It comes back: it gets what it missed.
  {
    std::lock_guard lock(fake.mu);
    fake.down.clear();
  }
  ASSERT_TRUE(eventually([&] { return fake.received("down") == 10; }, milliseconds(10000)));
  EXPECT_TRUE(h.wait_empty(milliseconds(5000)));
  EXPECT_EQ(h.pushed(), 2510u);
}

TEST(KvHandoff, AMemberThatLeftTheRingIsOwedNothing) {
  Fake fake;
  fake.down = {"gone"};
  Handoff h([&](const std::string& m, const std::vector<Entry>& b) { return fake.push(m, b); });
  h.add("gone", entries(5));
  ASSERT_TRUE(eventually([&] { return fake.tried("gone") >= 1; }));
  EXPECT_EQ(h.pending(), 5u);
  h.keep_only({"other"});
  EXPECT_EQ(h.pending(), 0u);
  EXPECT_TRUE(h.wait_empty(milliseconds(100)));
}

TEST(KvHandoff, TheNewestVersionOfAKeyIsWhatIsPushed) {
  Fake fake;
  fake.down = {"m"};
  Handoff h([&](const std::string& m, const std::vector<Entry>& b) { return fake.push(m, b); });
  h.add("m", entries(3, 5));
  h.add("m", entries(3, 4));  // older: ignored
  h.add("m", entries(1, 9));  // k0 newer
  EXPECT_EQ(h.pending(), 3u);
  {
    std::lock_guard lock(fake.mu);
    fake.down.clear();
  }
  ASSERT_TRUE(h.wait_empty(milliseconds(10000)));
  std::lock_guard lock(fake.mu);
  EXPECT_EQ(fake.got["m"]["k0"], 9u);
  EXPECT_EQ(fake.got["m"]["k1"], 5u);
  EXPECT_EQ(fake.got["m"]["k2"], 5u);
}

}  // namespace
}  // namespace kv
