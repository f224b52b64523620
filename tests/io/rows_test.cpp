// k-fold partition (io::fold_assignment, io::fold_split): disjoint, covering,
// balanced (sizes differ by at most one), seeded, and a function of (n, k,
// seed) alone, so every rank of any world size computes the same folds.

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"
#include "io/rows.hpp"

namespace lockstep::io {
namespace {

std::vector<int64_t> all_rows(const RowSet& s) {
  return s.rows({0, s.size()});
}

TEST(Folds, DisjointCoveringBalanced) {
  for (const int64_t n : {2, 3, 10, 101, 1000}) {
    for (const int64_t k : {2, 3, 5, 10}) {
      if (k > n) continue;
      std::vector<int64_t> seen;
      int64_t smallest = n, largest = 0;
      for (int64_t f = 0; f < k; ++f) {
        const RowSplit s = fold_split(n, k, f, 11);
        ASSERT_EQ(s.train.size() + s.val.size(), n);
        std::vector<int64_t> both = all_rows(s.train);
        const std::vector<int64_t> val = all_rows(s.val);
        both.insert(both.end(), val.begin(), val.end());
        std::sort(both.begin(), both.end());
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(both[static_cast<size_t>(i)], i);
        seen.insert(seen.end(), val.begin(), val.end());
        smallest = std::min(smallest, s.val.size());
        largest = std::max(largest, s.val.size());
      }
      std::sort(seen.begin(), seen.end());  // the validation folds partition [0, n)
      ASSERT_EQ(static_cast<int64_t>(seen.size()), n) << "n " << n << " k " << k;
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], i);
      EXPECT_LE(largest - smallest, 1) << "n " << n << " k " << k;
      EXPECT_EQ(smallest, n / k);
    }
  }
}

TEST(Folds, SeededAndShuffled) {
  const auto a = fold_assignment(200, 4, 1);
  EXPECT_EQ(a, fold_assignment(200, 4, 1));  // same seed, same folds (any rank, any world size)
  EXPECT_NE(a, fold_assignment(200, 4, 2));
  std::vector<int32_t> striped(200);
  for (size_t i = 0; i < striped.size(); ++i) striped[i] = static_cast<int32_t>(i % 4);
  EXPECT_NE(a, striped);  // not the unshuffled labels
  // Not the validation split's draw either: fold 0 of 4 differs from split_rows(0.25).
  EXPECT_NE(all_rows(fold_split(200, 4, 0, 1).val), all_rows(split_rows(200, 0.25, 1).val));
}

TEST(Folds, BadArguments) {
  EXPECT_THROW(fold_assignment(10, 1, 0), Error);
  EXPECT_THROW(fold_assignment(3, 4, 0), Error);
  EXPECT_THROW(fold_split(10, 3, 3, 0), Error);
  EXPECT_THROW(fold_split(10, 3, -1, 0), Error);
}

}  // namespace
}  // namespace lockstep::io
