// Shard sampler: exact coverage of the rows, equal step counts on every rank,
// per-epoch permutations that are deterministic and differ between epochs and
// ranks, and the error messages for impossible settings.

#include "io/sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "core/error.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;

bool is_permutation_of_iota(std::vector<int64_t> order, int64_t n) {
  if (static_cast<int64_t>(order.size()) != n) return false;
  std::sort(order.begin(), order.end());
  for (int64_t i = 0; i < n; ++i) {
    if (order[static_cast<size_t>(i)] != i) return false;
  }
  return true;
}

TEST(Sampler, ShardRangesCoverTheRowsExactly) {
  std::vector<int64_t> sizes;
  for (int64_t n = 1; n <= 37; ++n) sizes.push_back(n);
  sizes.push_back(1000);
  sizes.push_back(1001);
  for (int64_t n : sizes) {
    for (int p = 1; p <= 4; ++p) {
      if (n < p) {
        EXPECT_THROW(shard_range(n, p, 0), Error);
        continue;
      }
      int64_t next = 0;
      for (int r = 0; r < p; ++r) {
        const RowRange range = shard_range(n, p, r);
        EXPECT_EQ(range.begin, next) << "N=" << n << " P=" << p << " r=" << r;
        EXPECT_EQ(range.size(), n / p + (r < n % p ? 1 : 0));
        next = range.end;
      }
      EXPECT_EQ(next, n) << "N=" << n << " P=" << p;
    }
  }
}

// Evaluation shards: whole blocks, contiguous in rank order, covering [0, N);
// the blocks (batches) themselves never depend on the number of ranks.
TEST(Sampler, BlockShardRangesAreWholeBlocksInRankOrder) {
  for (int64_t n : {0, 1, 6, 7, 8, 50, 203, 1000, 1001}) {
    for (int64_t block : {1, 7, 64, 1000}) {
      const int64_t blocks = (n + block - 1) / block;
      for (int p = 1; p <= 5; ++p) {
        int64_t next = 0;
        for (int r = 0; r < p; ++r) {
          const RowRange range = block_shard_range(n, block, p, r);
          const std::string where = "N=" + std::to_string(n) + " block=" + std::to_string(block) +
                                    " P=" + std::to_string(p) + " r=" + std::to_string(r);
          EXPECT_EQ(range.begin, next) << where;
          EXPECT_TRUE(range.begin % block == 0 || range.begin == n) << where;
          EXPECT_TRUE(range.end % block == 0 || range.end == n) << where;
          const int64_t owned = (range.size() + block - 1) / block;
          EXPECT_EQ(owned, blocks / p + (r < blocks % p ? 1 : 0)) << where;
          next = range.end;
        }
        EXPECT_EQ(next, n);
      }
    }
  }
  EXPECT_TRUE(contains_all(error_of([] { block_shard_range(10, 0, 2, 0); }), {"block of 0"}));
  EXPECT_TRUE(contains_all(error_of([] { block_shard_range(10, 4, 2, 2); }), {"rank 2", "< 2"}));
}

TEST(Sampler, PropertiesOverSizesRanksAndBatches) {
  std::vector<int64_t> sizes;
  for (int64_t n = 1; n <= 37; ++n) sizes.push_back(n);
  sizes.push_back(1000);
  sizes.push_back(1001);
  for (int64_t n : sizes) {
    for (int p = 1; p <= 4; ++p) {
      if (n < p) continue;
      for (int64_t b : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{5}, int64_t{8}, int64_t{64}}) {
        if (b > n / p) {
          EXPECT_THROW(ShardSampler(n, p, 0, b, 7), Error);
          continue;
        }
        const int64_t steps = (n / p) / b;
        std::vector<bool> seen(static_cast<size_t>(n), false);
        for (int r = 0; r < p; ++r) {
          const ShardSampler sampler(n, p, r, b, 7);
          EXPECT_EQ(sampler.steps_per_epoch(), steps) << "N=" << n << " P=" << p << " b=" << b;
          EXPECT_EQ(sampler.batch(), b);
          const RowRange shard = sampler.shard();
          for (int64_t i = shard.begin; i < shard.end; ++i) {
            ASSERT_FALSE(seen[static_cast<size_t>(i)]) << "row " << i << " in two shards";
            seen[static_cast<size_t>(i)] = true;
          }
          for (int64_t e : {int64_t{0}, int64_t{1}, int64_t{5}}) {
            const auto order = sampler.epoch_order(e);
            ASSERT_TRUE(is_permutation_of_iota(order, shard.size()))
                << "N=" << n << " P=" << p << " b=" << b << " r=" << r << " e=" << e;
            EXPECT_GE(static_cast<int64_t>(order.size()), steps * b);
          }
        }
        EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](bool s) { return s; }));
      }
    }
  }
}

TEST(Sampler, OrderIsDeterministicAndDiffersBetweenEpochsRanksAndSeeds) {
  const ShardSampler a(1001, 4, 1, 32, 42);
  const ShardSampler b(1001, 4, 1, 32, 42);
  EXPECT_EQ(a.epoch_order(3), b.epoch_order(3));
  EXPECT_NE(a.epoch_order(0), a.epoch_order(1));
  const ShardSampler rank2(1001, 4, 2, 32, 42);  // same shard size (250) as rank 1
  ASSERT_EQ(rank2.shard().size(), a.shard().size());
  EXPECT_NE(a.epoch_order(0), rank2.epoch_order(0));
  const ShardSampler other_seed(1001, 4, 1, 32, 43);
  EXPECT_NE(a.epoch_order(0), other_seed.epoch_order(0));
  // The rows left over at the end of an epoch change from epoch to epoch.
  const auto leftover = [&](int64_t e) {
    const auto order = a.epoch_order(e);
    const auto used = a.steps_per_epoch() * a.batch();
    return std::set<int64_t>(order.begin() + used, order.end());
  };
  EXPECT_EQ(leftover(0).size(), 250u - 7 * 32);
  EXPECT_NE(leftover(0), leftover(1));
}

TEST(Sampler, UnshuffledEpochsContinueWhereTheLastStopped) {
  const ShardSampler s(10, 1, 0, 3, 0, /*shuffle=*/false);
  EXPECT_EQ(s.steps_per_epoch(), 3);
  EXPECT_EQ(s.epoch_order(0), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // Row 9 was left over in epoch 0; epoch 1 starts with it.
  EXPECT_EQ(s.epoch_order(1), (std::vector<int64_t>{9, 0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(s.epoch_order(10), s.epoch_order(0));
}

TEST(Sampler, ErrorMessagesNameTheNumbers) {
  EXPECT_TRUE(
      contains_all(error_of([] { ShardSampler(3, 4, 0, 1, 0); }),
                   {"dataset has 3 samples but 4 ranks: every rank needs at least one sample"}));
  EXPECT_TRUE(contains_all(error_of([] { ShardSampler(403, 4, 3, 128, 0); }),
                           {"batch size 128 is larger than the smallest shard (100 rows with 4 "
                            "ranks): no training step can run"}));
  EXPECT_TRUE(contains_all(error_of([] { ShardSampler(10, 2, 0, 0, 0); }), {"batch size 0"}));
  EXPECT_TRUE(contains_all(error_of([] { shard_range(10, 2, 2); }), {"rank 2", "< 2"}));
  EXPECT_TRUE(contains_all(error_of([] { shard_range(10, 0, 0); }), {"world size 0"}));
  EXPECT_TRUE(
      contains_all(error_of([] { ShardSampler(10, 1, 0, 2, 0).epoch_order(-1); }), {"epoch -1"}));
}

}  // namespace
}  // namespace lockstep::io
