// The report of an error every rank has (comm::error_report_lines): one line
// per distinct message with the ranks it applies to, relayed errors left out.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "comm/communicator.hpp"

namespace lockstep::comm {
namespace {

TEST(ErrorReport, RankRanges) {
  EXPECT_EQ(rank_ranges({0}), "0");
  EXPECT_EQ(rank_ranges({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(rank_ranges({0, 2}), "0,2");
  EXPECT_EQ(rank_ranges({1, 3, 4, 5, 9}), "1,3-5,9");
}

TEST(ErrorReport, OneLineWhenEveryRankHasTheSameError) {
  const std::vector<std::string> all(512, "optim.lr: expected a number > 0, got '-1'");
  const auto lines = error_report_lines("lockstep train: ", all);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "lockstep train: error on ranks 0-511: optim.lr: expected a number > 0, got '-1'");
}

TEST(ErrorReport, DistinctMessagesByLowestRankAndRelaysLeftOut) {
  // Ranks 1 and 3 fail with their own rows; 0 and 2 only relay rank 1's error.
  const auto lines = error_report_lines("x: ", {"", "row 5 bad", "", "row 9 bad", "row 5 bad"});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "x: error on ranks 1,4: row 5 bad");
  EXPECT_EQ(lines[1], "x: error on rank 3: row 9 bad");
}

}  // namespace
}  // namespace lockstep::comm
