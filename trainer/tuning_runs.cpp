// Sweeps and cross-validation: many runs, one results table.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "comm/mpi.hpp"
#include "io/dataset.hpp"
#include "io/rows.hpp"
#include "trainer/tuning.hpp"

namespace lockstep::trainer {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The columns after the caller's own: epochs, the final epoch's figures, the
// best metric and its epoch, seconds (numbers), then status and error.
std::vector<std::string> run_columns(const std::vector<std::string>& figures,
                                     const MetricChoice& metric) {
  std::vector<std::string> c{"epochs"};
  c.insert(c.end(), figures.begin(), figures.end());
  c.push_back("best_" + metric.metric);
  for (const char* s : {"best_epoch", "seconds", "status", "error"}) c.push_back(s);
  return c;
}

// The numeric columns of run_columns for one run (NaN: empty).
std::vector<double> run_numbers(const RunResult& r, const std::vector<std::string>& figures,
                                LossKind kind) {
  const auto& recs = r.outcome.records;
  std::vector<double> v{static_cast<double>(recs.size())};
  const auto last = recs.empty() ? std::vector<std::pair<std::string, double>>{}
                                 : epoch_figures(recs.back(), kind);
  for (const std::string& name : figures) {
    const auto it =
        std::find_if(last.begin(), last.end(), [&](const auto& f) { return f.first == name; });
    v.push_back(it == last.end() ? kNaN : it->second);
  }
  v.push_back(r.best.epoch > 0 ? r.best.value : kNaN);
  v.push_back(r.best.epoch > 0 ? static_cast<double>(r.best.epoch) : kNaN);
  v.push_back(r.status == RunStatus::kFailed ? kNaN : r.outcome.seconds);
  return v;
}

// A row's text: the numbers (those at `integers` as integers), then status and error.
std::vector<std::string> cells(const std::vector<double>& numbers,
                               const std::vector<size_t>& integers) {
  std::vector<std::string> c;
  for (size_t i = 0; i < numbers.size(); ++i) {
    const bool integer = std::find(integers.begin(), integers.end(), i) != integers.end();
    c.push_back(integer && std::isfinite(numbers[i])
                    ? std::to_string(static_cast<int64_t>(numbers[i]))
                    : cell(numbers[i]));
  }
  return c;
}

// Rank 0 runs `write` (files); an error there ends every rank (collective).
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

bool better(double value, double than, bool maximize) {
  return maximize ? value > than : value < than;
}

}  // namespace

SweepSummary run_sweep(const std::vector<SweepTrial>& trials, const MetricChoice& metric,
                       const std::string& out, comm::MpiSession& mpi, const RunHooks& hooks,
                       const TuningObserver& observer) {
  LOCKSTEP_CHECK(!trials.empty(), "sweep: expected at least one trial, got none");
  comm::MpiCommunicator comm;
  const bool root = comm.rank() == 0;
  root_writes(comm, [&] { std::filesystem::create_directories(out); });
  const RunConfig& first = trials.front().config;
  const std::vector<std::string> figures = figure_names(first);
  std::vector<std::string> header{"trial"};
  for (const auto& [k, v] : trials.front().settings) header.push_back(k);
  const std::vector<std::string> columns = run_columns(figures, metric);
  header.insert(header.end(), columns.begin(), columns.end());
  // Integer columns among the numbers: epochs (0) and best_epoch.
  const std::vector<size_t> integers{0, figures.size() + 2};
  SweepSummary s{{}, ResultsTable(header), std::nullopt, 0};

  for (size_t i = 0; i < trials.size(); ++i) {
    const SweepTrial& t = trials[i];
    if (root && observer.started) observer.started(i);
    s.results.push_back(run_one(t.config, t.run_ini, mpi, metric, hooks));
    const RunResult& r = s.results.back();
    if (root && observer.finished) observer.finished(i, r);
    std::vector<std::string> row{t.name};
    for (const auto& [k, v] : t.settings) row.push_back(v);
    for (std::string& c : cells(run_numbers(r, figures, first.loss), integers))
      row.push_back(std::move(c));
    row.push_back(to_string(r.status));
    row.push_back(r.error);
    s.table.add(std::move(row));
    if (r.status == RunStatus::kOk && r.best.epoch > 0 &&
        (!s.best || better(r.best.value, s.results[*s.best].best.value, metric.maximize)))
      s.best = i;
    root_writes(comm, [&] {
      s.table.write_csv(out + "/results.csv");
      if (s.best) {
        std::ofstream ini(out + "/best.ini");
        ini << "# lockstep sweep: " << trials[*s.best].name << ", best " << metric.metric << " "
            << cell(s.results[*s.best].best.value) << "\n"
            << trials[*s.best].config_ini;
        if (!ini) throw Error("'" + out + "/best.ini': write failed");
      }
    });
    if (r.status == RunStatus::kStopped) {  // a stop signal: end the sweep with the run's code
      s.exit_code = r.exit_code;
      return s;
    }
  }
  s.exit_code = s.best ? 0 : 1;
  return s;
}

CvSummary run_cv(const std::vector<CvFold>& folds, const MetricChoice& metric,
                 const std::string& out, comm::MpiSession& mpi, const RunHooks& hooks,
                 const TuningObserver& observer) {
  const int64_t k = static_cast<int64_t>(folds.size());
  LOCKSTEP_CHECK(k >= 2, "cv: expected at least 2 folds, got " << k);
  comm::MpiCommunicator comm;
  const RunConfig& cfg = folds.front().config;
  CvSummary s{{}, {}, ResultsTable({}), {}, 0};
  comm::check_on_all_ranks(comm, [&] {
    int64_t n = io::probe_dataset(cfg.train_data.spec).num_samples;
    if (cfg.train_data.limit > 0) n = std::min(n, cfg.train_data.limit);
    LOCKSTEP_CHECK(k <= n, "--folds " << k << ": expected at most one fold per training row (" << n
                                      << " rows of '" << cfg.train_data.spec.path
                                      << "' in use after data.limit), got " << k << " folds");
    s.row_folds = io::fold_assignment(n, k, cfg.split_seed());
  });
  root_writes(comm, [&] {
    std::filesystem::create_directories(out);
    std::ofstream f(out + "/folds.csv");
    f << "row,fold\n";
    for (size_t i = 0; i < s.row_folds.size(); ++i) f << i << "," << s.row_folds[i] << "\n";
    if (!f) throw Error("'" + out + "/folds.csv': write failed");
  });
  if (comm.rank() == 0 && observer.rows_partitioned)
    observer.rows_partitioned(static_cast<int64_t>(s.row_folds.size()));
  std::vector<int64_t> fold_rows(static_cast<size_t>(k), 0);
  for (int32_t f : s.row_folds) ++fold_rows[static_cast<size_t>(f)];

  const std::vector<std::string> figures = figure_names(cfg);
  std::vector<std::string> header{"fold", "train_rows", "val_rows"};
  const std::vector<std::string> columns = run_columns(figures, metric);
  header.insert(header.end(), columns.begin(), columns.end());
  s.table = ResultsTable(header);
  // The numbers of a row: train_rows, val_rows, then run_numbers; integers
  // among them: the row counts, epochs and best_epoch.
  const std::vector<size_t> integers{0, 1, 2, figures.size() + 4};
  std::vector<std::vector<double>> numbers;  // per finished fold
  for (int64_t i = 0; i < k; ++i) {
    if (comm.rank() == 0 && observer.started) observer.started(static_cast<size_t>(i));
    s.results.push_back(run_one(folds[static_cast<size_t>(i)].config,
                                folds[static_cast<size_t>(i)].run_ini, mpi, metric, hooks));
    const RunResult& r = s.results.back();
    if (comm.rank() == 0 && observer.finished) observer.finished(static_cast<size_t>(i), r);
    const int64_t val_rows = fold_rows[static_cast<size_t>(i)];
    std::vector<double> v{static_cast<double>(static_cast<int64_t>(s.row_folds.size()) - val_rows),
                          static_cast<double>(val_rows)};
    for (double x : run_numbers(r, figures, cfg.loss)) v.push_back(x);
    std::vector<std::string> row{std::to_string(i)};
    for (std::string& c : cells(v, integers)) row.push_back(std::move(c));
    row.push_back(to_string(r.status));
    row.push_back(r.error);
    s.table.add(std::move(row));
    if (r.status == RunStatus::kOk) numbers.push_back(std::move(v));
    root_writes(comm, [&] { s.table.write_csv(out + "/cv.csv"); });
    if (r.status == RunStatus::kStopped) {
      s.exit_code = r.exit_code;
      break;
    }
    if (r.status == RunStatus::kFailed) s.exit_code = 1;
  }

  // Mean and sample std of every numeric column over the folds that finished.
  const size_t width = header.size() - 3;  // the numeric columns: not fold, status, error
  std::vector<std::string> mean_row{"mean"}, std_row{"std"};
  for (size_t c = 0; c < width; ++c) {
    std::vector<double> column;
    for (const auto& v : numbers) column.push_back(v[c]);
    const MeanStd m = mean_std(column);
    mean_row.push_back(cell(m.mean));
    std_row.push_back(cell(m.std));
    // The figures and the best metric (not the counts, best_epoch or seconds).
    const std::string& name = header[c + 1];
    if (c >= 3 && name != "seconds" && name != "best_epoch" && m.count > 0)
      s.summary.emplace_back(name, m);
  }
  for (auto* row : {&mean_row, &std_row}) {
    row->push_back("");
    row->push_back("");
    s.table.add(*row);
  }
  root_writes(comm, [&] { s.table.write_csv(out + "/cv.csv"); });
  return s;
}

}  // namespace lockstep::trainer
