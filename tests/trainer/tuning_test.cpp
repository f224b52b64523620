// Figures for comparing runs: an epoch's named figures, the best epoch of a
// metric (min or max), the mean and sample standard deviation.

#include <gtest/gtest.h>

#include <cmath>

#include "trainer/tuning.hpp"

namespace lockstep::trainer {
namespace {

EpochRecord record(int64_t epoch, double train_loss, double test_acc) {
  EpochRecord r;
  r.epoch = epoch;
  r.train.loss = train_loss;
  r.train.accuracy = 0.5;
  r.test = EvalResult{1.0, test_acc, 10, 0};
  return r;
}

TEST(Tuning, FiguresAndBestEpoch) {
  const std::vector<EpochRecord> recs{record(0, 2.0, 0.3), record(1, 1.0, 0.6),
                                      record(2, 1.5, 0.4)};
  const auto f = epoch_figures(recs[0], LossKind::kCrossEntropy);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[2].first, "test_loss");
  std::vector<std::string> names;
  for (const auto& [n, v] : f) names.push_back(n);
  EXPECT_EQ(names, epoch_figure_names(LossKind::kCrossEntropy, true, false));
  EXPECT_EQ(epoch_figure_names(LossKind::kMse, false, false),
            std::vector<std::string>{"train_loss"});
  const MetricBest lo = best_epoch(recs, LossKind::kCrossEntropy, "train_loss", false);
  EXPECT_EQ(lo.epoch, 2);
  EXPECT_DOUBLE_EQ(lo.value, 1.0);
  const MetricBest hi = best_epoch(recs, LossKind::kCrossEntropy, "test_accuracy", true);
  EXPECT_EQ(hi.epoch, 2);
  EXPECT_EQ(best_epoch(recs, LossKind::kCrossEntropy, "val_loss", false).epoch, 0);
}

TEST(Tuning, MeanAndSampleStd) {
  const MeanStd m = mean_std({1.0, 2.0, 3.0, NAN});
  EXPECT_EQ(m.count, 3);
  EXPECT_DOUBLE_EQ(m.mean, 2.0);
  EXPECT_DOUBLE_EQ(m.std, 1.0);
  EXPECT_TRUE(std::isnan(mean_std({4.0}).std));
  EXPECT_TRUE(std::isnan(mean_std({}).mean));
}

}  // namespace
}  // namespace lockstep::trainer
