#pragma once
// Comparing whole training runs: hyperparameter sweeps and k-fold
// cross-validation as library calls (`lockstep sweep` and `lockstep cv` parse
// their arguments, call these and print). Each run is a trainer::run_training
// in its own run directory under the output folder; rank 0 rewrites the
// results table (CSV) after every run. Also: each epoch's named figures, the
// best epoch of a chosen one, and the mean and sample standard deviation of a
// figure over runs.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/loss.hpp"
#include "trainer/run.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::comm {
class MpiSession;
}

namespace lockstep::trainer {

// ---- figures

/// An epoch's figures: train_loss, train_accuracy (cross-entropy), test_loss and
/// test_accuracy (with a test set), then validation_figures (with validation rows).
std::vector<std::pair<std::string, double>> epoch_figures(const EpochRecord& r, LossKind kind);

/// The names epoch_figures gives for a run of `kind` with or without test / validation data.
std::vector<std::string> epoch_figure_names(LossKind kind, bool test, bool val);
/// The names for runs configured like `config`.
std::vector<std::string> figure_names(const RunConfig& config);

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

// ---- one run of several

/// The figure that ranks runs, and its direction.
struct MetricChoice {
  std::string metric;
  bool maximize = false;
};

/// `metric` ("" : val_loss with validation data, else test_loss with a test
/// set, else train_loss) and `mode` (auto, min, max; auto: max for accuracy
/// and r2) for runs like `config`. Throws lockstep::Error for a figure those
/// runs do not have or a bad mode, naming --metric / --mode.
MetricChoice choose_metric(const std::string& metric, const std::string& mode,
                           const RunConfig& config);

enum class RunStatus { kOk, kStopped, kFailed };
const char* to_string(RunStatus s);  // ok, stopped (a stop signal), failed

struct RunResult {
  RunStatus status = RunStatus::kOk;
  int exit_code = 0;   // of the run, or of its error
  std::string error;   // failed: the message every rank agreed on
  RunOutcome outcome;  // ok, stopped
  MetricBest best{0.0, 0};
};

/// Collective: one training run. An error every rank agreed on
/// (comm::CollectiveError, e.g. a non-finite loss) is returned as a failed
/// run; any other error is thrown.
RunResult run_one(const RunConfig& config, const std::string& config_ini, comm::MpiSession& mpi,
                  const MetricChoice& metric, const RunHooks& hooks);

/// A results table: a header and rows of text cells; written as CSV.
class ResultsTable {
 public:
  explicit ResultsTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  const std::vector<std::string>& header() const { return header_; }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }
  /// Writes the CSV to a temporary name and renames it (a reader never sees half a file).
  void write_csv(const std::string& path) const;
  /// Aligned columns `columns` (by header name) for the terminal.
  std::string text(const std::vector<std::string>& columns) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

/// A number for a table: %.6g, empty when not finite.
std::string cell(double v);

// ---- sweeps

struct SweepTrial {
  std::string name;                                       // "trial-001": its run directory
  std::vector<std::pair<std::string, std::string>> settings;  // key, value of the trial
  RunConfig config;        // the trial's run (log.dir = the output folder, log.name = name)
  std::string run_ini;     // its effective config, as the run records it
  std::string config_ini;  // the config to train it again (best.ini)
};

/// Called on rank 0 before and after each trial (numbered from 0).
struct TuningObserver {
  std::function<void(int64_t rows)> rows_partitioned;  // cv: the rows in use are in folds
  std::function<void(size_t index)> started;
  std::function<void(size_t index, const RunResult& result)> finished;
};

struct SweepSummary {
  std::vector<RunResult> results;  // per trial run (a stop signal ends the sweep early)
  ResultsTable table;              // the rows of results.csv
  std::optional<size_t> best;      // the trial with the best metric among those that finished
  int exit_code = 0;  // 0: a best trial; 1: none finished with the metric; a stopped run's code
};

/// Collective: runs every trial in turn; rank 0 writes <out>/results.csv
/// (trial, its settings, epochs, the final epoch's figures, best metric and
/// epoch, seconds, status, error) and <out>/best.ini after each trial. A
/// failed trial is recorded and the sweep goes on; a stop signal ends it.
SweepSummary run_sweep(const std::vector<SweepTrial>& trials, const MetricChoice& metric,
                       const std::string& out, comm::MpiSession& mpi, const RunHooks& hooks,
                       const TuningObserver& observer = {});

// ---- cross-validation

struct CvFold {
  RunConfig config;     // data.folds = k, data.fold = i; its run directory under the output folder
  std::string run_ini;  // its effective config, as the run records it
};

struct CvSummary {
  std::vector<int32_t> row_folds;  // the fold of every row in use (folds.csv)
  std::vector<RunResult> results;  // per fold run
  ResultsTable table;              // the rows of cv.csv: per fold, then mean and std
  /// Mean and std over the folds that finished, of each figure and the best metric.
  std::vector<std::pair<std::string, MeanStd>> summary;
  int exit_code = 0;  // 0; 1 when a fold failed; a stopped run's code
};

/// Collective: `folds` (k >= 2, fold i validating on fold i of the rows'
/// seeded partition). Rank 0 writes <out>/folds.csv (row, fold) first and
/// <out>/cv.csv after every fold and at the end with the mean and sample std.
CvSummary run_cv(const std::vector<CvFold>& folds, const MetricChoice& metric,
                 const std::string& out, comm::MpiSession& mpi, const RunHooks& hooks,
                 const TuningObserver& observer = {});

}  // namespace lockstep::trainer
