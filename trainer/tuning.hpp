#pragma once
// Figures of a finished run for comparing runs (lockstep sweep, lockstep cv):
// each epoch's named figures, the best epoch of a chosen one, and the mean and
// sample standard deviation of a figure over runs.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/loss.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::trainer {

/// An epoch's figures: train_loss, train_accuracy (cross-entropy), test_loss and
/// test_accuracy (with a test set), then validation_figures (with validation rows).
std::vector<std::pair<std::string, double>> epoch_figures(const EpochRecord& r, LossKind kind);

/// The names epoch_figures gives for a run of `kind` with or without test / validation data.
std::vector<std::string> epoch_figure_names(LossKind kind, bool test, bool val);

/// The best epoch of `metric` (1-based epoch; 0 and NaN when no epoch has the metric).
struct MetricBest {
  double value;
  int64_t epoch;
};
MetricBest best_epoch(const std::vector<EpochRecord>& records, LossKind kind,
                      const std::string& metric, bool maximize);

/// Mean and sample standard deviation (n - 1) of the finite values; NaN where
/// there are too few (none for the mean, fewer than two for the deviation).
struct MeanStd {
  double mean;
  double std;
  int64_t count;
};
MeanStd mean_std(const std::vector<double>& values);

}  // namespace lockstep::trainer
