// Tests for ring::RingCache: builders that share a cache share snapshots
// with equal members, never unequal ones, and a shared snapshot answers
// as one built alone.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "shoal/ring/ring.h"

namespace shoal::ring {
namespace {

std::string member(int i) { return "10.0.0." + std::to_string(i) + ":7946"; }

// `n` builders of `replica_points` that share `cache`.
std::vector<RingBuilder> builders(RingCache& cache, size_t n,
                                  uint32_t replica_points = kDefaultReplicaPoints) {
  std::vector<RingBuilder> out;
  for (size_t i = 0; i < n; ++i) {
    out.emplace_back(replica_points);
    out.back().set_cache(&cache);
  }
  return out;
}

TEST(RingCache, BuildersWithEqualMembersShareOneSnapshot) {
  RingCache cache;
  auto bs = builders(cache, 2);
  RingBuilder& a = bs[0];
  RingBuilder& b = bs[1];
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(a.add(member(i)));
  auto ra = a.build();
  // The same members, learned in another order and in two batches.
  for (int i = 49; i >= 25; --i) ASSERT_TRUE(b.add(member(i)));
  auto partial = b.build();
  EXPECT_NE(partial, ra);
  for (int i = 24; i >= 0; --i) ASSERT_TRUE(b.add(member(i)));
  auto rb = b.build();
  EXPECT_EQ(rb, ra);  // the very snapshot, not a copy
  EXPECT_EQ(cache.hits(), 1u);
  // Both go on from it: a removal on each, of the same member, shares again.
  a.remove(member(7));
  b.remove(member(7));
  EXPECT_EQ(a.build(), b.build());
  EXPECT_EQ(cache.hits(), 2u);
}

TEST(RingCache, UnequalMembersOrWeightsAreNeverShared) {
  RingCache cache;
  auto bs = builders(cache, 3);
  RingBuilder& a = bs[0];
  RingBuilder& b = bs[1];
  RingBuilder& c = bs[2];
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(a.add(member(i)));
    ASSERT_TRUE(b.add(member(i), i == 3 ? 2.0 : 1.0));
    if (i != 5) {
      ASSERT_TRUE(c.add(member(i)));
    }
  }
  auto ra = a.build();
  auto rb = b.build();
  auto rc = c.build();
  EXPECT_NE(ra, rb);
  EXPECT_NE(ra, rc);
  EXPECT_NE(ra->checksum(), rb->checksum());
  EXPECT_EQ(cache.hits(), 0u);
  // Another replica_points: another ring, even with the same members.
  auto ds = builders(cache, 1, 50);
  RingBuilder& d = ds[0];
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(d.add(member(i)));
  auto rd = d.build();
  EXPECT_NE(rd, ra);
  EXPECT_EQ(rd->point_count(), 20u * 50u);
  // Re-weighting b's member back to 1.0 makes it equal to a's.
  ASSERT_TRUE(b.add(member(3), 1.0));
  EXPECT_EQ(b.build(), ra);
}

TEST(RingCache, ASharedSnapshotAnswersAsOneBuiltAlone) {
  RingCache cache;
  auto bs = builders(cache, 2);
  RingBuilder& a = bs[0];
  RingBuilder& b = bs[1];
  RingBuilder alone;
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(a.add(member(i)));
    ASSERT_TRUE(alone.add(member(i)));
  }
  (void)a.build();
  (void)alone.build();
  for (int i = 0; i < 300; i += 2) a.remove(member(i));
  for (int i = 0; i < 300; i += 2) alone.remove(member(i));
  auto ra = a.build();
  auto ralone = alone.build();
  for (int i = 1; i < 300; i += 2) ASSERT_TRUE(b.add(member(i)));
  auto rb = b.build();
  ASSERT_EQ(rb, ra);
  EXPECT_EQ(rb->checksum(), ralone->checksum());
  for (int k = 0; k < 2000; ++k) {
    const std::string key = "key-" + std::to_string(k);
    ASSERT_EQ(rb->lookup(key), ralone->lookup(key)) << key;
  }
  // b goes on building from the shared snapshot.
  ASSERT_TRUE(b.add(member(1000)));
  ASSERT_TRUE(alone.add(member(1000)));
  auto next = b.build();
  auto next_alone = alone.build();
  EXPECT_EQ(next->checksum(), next_alone->checksum());
  for (int k = 0; k < 2000; ++k) {
    const std::string key = "key-" + std::to_string(k);
    ASSERT_EQ(next->lookup(key), next_alone->lookup(key)) << key;
  }
}

TEST(RingCache, ASnapshotNobodyHoldsIsForgotten) {
  RingCache cache;
  uint64_t checksum = 0;
  {
    RingBuilder a;
    a.set_cache(&cache);
    ASSERT_TRUE(a.add(member(1)));
    checksum = a.build()->checksum();
    EXPECT_NE(cache.find(checksum, kDefaultReplicaPoints), nullptr);
  }
  EXPECT_EQ(cache.find(checksum, kDefaultReplicaPoints), nullptr);
}

}  // namespace
}  // namespace shoal::ring
