#pragma once
// What `lockstep sweep` and `lockstep cv` share: the metric that ranks runs
// (--metric, --mode), one run with its failure captured, the output folder and
// the results table (CSV written by rank 0 after every run, and printed).

#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "launch/train_run.hpp"
#include "trainer/tuning.hpp"

namespace lockstep::launch {

/// --metric NAME --mode min|max|auto, and --out DIR.
void add_tuning_options(boost::program_options::options_description& desc, const char* default_out);

struct MetricChoice {
  std::string metric;
  bool maximize = false;
};

/// The metric from --metric / --mode; without --metric: val_loss when `cfg`
/// has validation data, else test_loss with a test set, else train_loss.
/// Throws lockstep::Error for a figure the runs of `cfg` do not have.
MetricChoice resolve_metric(const boost::program_options::variables_map& cli, const RunConfig& cfg);

/// The columns of a run's figures for runs like `cfg`.
std::vector<std::string> figure_names(const RunConfig& cfg);

/// --out, or (no --out) `<prefix>-<date>-<time>` named by rank 0; the same on every rank.
std::string output_dir(const boost::program_options::variables_map& cli, const std::string& prefix,
                       comm::Communicator& comm);

struct RunResult {
  int exit_code = 0;     // of the run, or of its error
  std::string status;    // ok, stopped (a stop signal), failed
  std::string error;     // failed: the message every rank agreed on
  TrainOutcome outcome;  // ok
  trainer::MetricBest best{0.0, 0};
};

/// Collective: one training run with `values`. An error every rank agreed on
/// (comm::CollectiveError, e.g. a non-finite loss) is returned as a failed run;
/// any other error is thrown.
RunResult run_one(const ConfigValues& values, comm::MpiSession& mpi, const MetricChoice& metric,
                  LossKind kind);

/// The columns run_cells fills, after the caller's own ones.
std::vector<std::string> run_columns(const std::vector<std::string>& figures,
                                     const MetricChoice& metric);
/// A run's cells: epochs, the final epoch's figures, best value and epoch, seconds, status, error.
std::vector<std::string> run_cells(const RunResult& r, const std::vector<std::string>& figures,
                                   LossKind kind);

/// A number for the table: %.6g, empty when not finite.
std::string cell(double v);

class ResultsTable {
 public:
  explicit ResultsTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }
  /// Writes the CSV to a temporary name and renames it (a reader never sees half a file).
  void write_csv(const std::string& path) const;
  /// Aligned columns `columns` (by header name) for the terminal.
  std::string text(const std::vector<std::string>& columns) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

/// Rank 0 runs `write` (files); an error there ends every rank (collective).
template <class F>
void root_writes(comm::Communicator& comm, F&& write) {
  std::optional<std::string> error;
  if (comm.rank() == 0) {
    try {
      write();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  comm::agree_or_throw(comm, error);
}

}  // namespace lockstep::launch
