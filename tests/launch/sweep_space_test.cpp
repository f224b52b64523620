// The sweep's search space: --grid parsing (lists, '|' lists, ranges, errors),
// the grid's Cartesian product (last key fastest), a seeded random search
// (reproducible, in range, each trial independent of the number of trials).

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.hpp"
#include "launch/sweep_space.hpp"

namespace lockstep::launch {
namespace {

TEST(SweepSpace, ParsesListsAndRanges) {
  const SweepParam a = parse_sweep_param("optim.lr=0.01, 0.1");
  EXPECT_EQ(a.key, "optim.lr");
  EXPECT_EQ(a.values, (std::vector<std::string>{"0.01", "0.1"}));
  const SweepParam b = parse_sweep_param("model.layers=dense(8), relu, dense(3)|dense(3)");
  EXPECT_EQ(b.values, (std::vector<std::string>{"dense(8), relu, dense(3)", "dense(3)"}));
  const SweepParam c = parse_sweep_param("optim.lr=loguniform:1e-4:1e-1");
  EXPECT_EQ(c.kind, SweepParam::Kind::kLogUniform);
  EXPECT_DOUBLE_EQ(c.low, 1e-4);
  EXPECT_DOUBLE_EQ(c.high, 1e-1);
  EXPECT_EQ(parse_sweep_param("train.batch_size=int:8:64").kind, SweepParam::Kind::kInt);
  EXPECT_EQ(parse_sweep_param("optim.momentum=uniform:0:0.99").kind, SweepParam::Kind::kUniform);
}

TEST(SweepSpace, RejectsMalformed) {
  for (const char* bad :
       {"optim.lr", "=1,2", "optim.lr=", "optim.lr=1,,2", "optim.lr=1,", "optim.lr=loguniform:1e-4",
        "optim.lr=loguniform:0:1", "optim.lr=uniform:2:1", "optim.lr=uniform:a:1", "x=int:1.5:3",
        "x=int:1:2:3"})
    EXPECT_THROW(parse_sweep_param(bad), Error) << bad;
}

TEST(SweepSpace, GridIsTheCartesianProduct) {
  const auto trials = grid_trials({parse_sweep_param("a=1,2"), parse_sweep_param("b=x,y,z")});
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ(trials[0], (Trial{{"a", "1"}, {"b", "x"}}));
  EXPECT_EQ(trials[1], (Trial{{"a", "1"}, {"b", "y"}}));
  EXPECT_EQ(trials[5], (Trial{{"a", "2"}, {"b", "z"}}));
  EXPECT_THROW(grid_trials({parse_sweep_param("a=uniform:0:1")}), Error);
  EXPECT_THROW(grid_trials({parse_sweep_param("a=1"), parse_sweep_param("a=2")}), Error);
}

TEST(SweepSpace, RandomIsSeededAndInRange) {
  const std::vector<SweepParam> p{parse_sweep_param("lr=loguniform:1e-4:1e-1"),
                                  parse_sweep_param("bs=int:8:10"), parse_sweep_param("o=a,b"),
                                  parse_sweep_param("m=uniform:0.5:0.9")};
  const auto t = random_trials(p, 20, 7);
  EXPECT_EQ(t, random_trials(p, 20, 7));
  EXPECT_NE(t, random_trials(p, 20, 8));
  const auto first = random_trials(p, 5, 7);  // trial i does not depend on the count
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i], t[i]);
  std::set<std::string> ints;
  for (const Trial& trial : t) {
    ASSERT_EQ(trial.size(), 4u);
    const double lr = std::stod(trial[0].second);
    EXPECT_TRUE(lr >= 1e-4 && lr <= 1e-1) << lr;
    ints.insert(trial[1].second);
    EXPECT_TRUE(trial[2].second == "a" || trial[2].second == "b");
    const double m = std::stod(trial[3].second);
    EXPECT_TRUE(m >= 0.5 && m <= 0.9) << m;
  }
  EXPECT_EQ(ints, (std::set<std::string>{"8", "9", "10"}));  // both ends included
  EXPECT_THROW(random_trials(p, 0, 7), Error);
}

}  // namespace
}  // namespace lockstep::launch
