#pragma once
// Validation figures, early stopping and the best model (README "Validation").
//
// After every epoch the trainer evaluates the validation rows; the figures are
// all-reduced, so every rank sees the same values and EarlyStopping makes the
// same decision on every rank. The chosen metric (or val_loss) improving by
// more than min_delta makes the epoch the best one; `patience` epochs in a row
// without improvement end the run when early stopping is on.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "comm/communicator.hpp"
#include "core/loss.hpp"
#include "io/model_file.hpp"
#include "trainer/eval_metrics.hpp"
#include "trainer/metrics.hpp"

namespace lockstep::trainer {

/// Named figures of a validation evaluation: val_loss, then val_accuracy
/// (cross-entropy) or val_mse, val_mae, val_r2 (mse).
std::vector<std::pair<std::string, double>> validation_figures(const EvalMetrics& m, LossKind kind);

/// The metric names validation_figures gives for `kind`, e.g. "val_loss, val_accuracy".
std::vector<std::string> validation_metric_names(LossKind kind);

/// Whether larger is better for `metric`: accuracy and r2 yes; loss, mse, mae no.
bool metric_maximized(const std::string& metric);

struct EarlyStopOptions {
  std::string metric = "val_loss";  // the figure tracked for the best model
  bool maximize = false;
  bool stop = false;       // end the run after `patience` epochs without improvement
  int64_t patience = 0;    // 0 and 1: stop at the first epoch without improvement
  double min_delta = 0.0;  // an improvement must exceed this
};

class EarlyStopping {
 public:
  explicit EarlyStopping(EarlyStopOptions options) : options_(std::move(options)) {}

  /// Records the value of epoch `epoch` (1-based); true when it is the new best.
  bool update(int64_t epoch, double value);
  /// Early stopping is on and `patience` epochs in a row did not improve.
  bool should_stop() const;
  /// The state to keep in checkpoints (nothing before the first epoch).
  std::optional<io::BestRecord> state() const { return best_; }
  /// Continues from a checkpoint's state; a state for another metric is ignored
  /// (returns false).
  bool restore(const io::BestRecord& state);
  const EarlyStopOptions& options() const { return options_; }

 private:
  EarlyStopOptions options_;
  std::optional<io::BestRecord> best_;
};

/// The epoch-end part of a run with validation: updates EarlyStopping from the
/// epoch's figures, has the best model saved (rank 0, `save_best`; errors end
/// every rank) and recorded in metrics.jsonl, and reports when to stop.
class ValidationTracker {
 public:
  using SaveBest = std::function<void(const io::BestRecord&)>;
  ValidationTracker(comm::Communicator& comm, EarlyStopOptions options, LossKind kind,
                    SaveBest save_best, MetricsFile* metrics);

  /// Collective: the validation figures of `epoch` (1-based), which ended
  /// at global step `step`; true when the run should stop.
  bool after_epoch(int64_t epoch, int64_t step, const EvalMetrics& val);
  EarlyStopping& stopping() { return stopping_; }

 private:
  comm::Communicator& comm_;
  EarlyStopping stopping_;
  LossKind kind_;
  SaveBest save_best_;
  MetricsFile* metrics_;
};

}  // namespace lockstep::trainer
