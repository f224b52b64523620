// lockstep cv: k-fold cross-validation over the training rows (after
// data.limit). Fold i trains on the other folds and validates on fold i
// (data.folds / data.fold, the validation path of data.val_fraction); rank 0
// writes OUT/cv.csv (per fold, then mean and sample std) and OUT/folds.csv
// (the fold of every row) (README "cv").

#include <cstdio>

#include "comm/mpi.hpp"
#include "launch/commands.hpp"
#include "launch/options.hpp"
#include "launch/train_report.hpp"
#include "launch/tuning.hpp"

namespace po = boost::program_options;

namespace lockstep::launch {

namespace {

constexpr const char* kUsage =
    "lockstep cv: k-fold cross-validation, each fold a whole training run\n\n"
    "Usage: lockstep cv --config base.ini --folds K [--metric val_loss --mode auto] [--out DIR]\n"
    "                   [--section.key value ...]";

ConfigValues fold_values(ConfigValues values, int64_t k, int64_t fold) {
  values["data.folds"] = std::to_string(k);
  values["data.fold"] = std::to_string(fold);
  return values;
}

}  // namespace

int run_cv(int argc, char** argv, comm::MpiSession& mpi) {
  ConfigValues base;
  po::variables_map cli;
  RunConfig cfg;  // of fold 0
  std::vector<std::string> notes;
  trainer::MetricChoice metric;
  int64_t k = 0;
  try {  // every rank parses the same arguments and fails the same way: end cleanly
    po::options_description own("Cross-validation");
    own.add_options()("folds", po::value<int64_t>(), "K >= 2: the number of folds");
    add_tuning_options(own, "output folder [cv-<date>-<time>]");
    if (!parse_config_args(argc, argv, "cv", kUsage, own, cli, base, &notes)) return 0;
    if (!cli.count("folds")) throw Error("cv: expected --folds K (K >= 2), got none");
    k = cli["folds"].as<int64_t>();
    if (k < 2) throw Error("--folds: expected at least 2 folds, got " + std::to_string(k));
    const RunConfig base_cfg = to_run_config(base);
    if (!base_cfg.val_path.empty() || base_cfg.val_fraction > 0)
      throw Error("cv --folds " + std::to_string(k) +
                  ": expected neither data.val nor data.val_fraction (each fold validates on "
                  "its own rows), got data.val = '" +
                  base_cfg.val_path + "', data.val_fraction = " + base.at("data.val_fraction"));
    cfg = to_run_config(fold_values(base, k, 0));
    metric = resolve_metric(cli, cfg);
  } catch (const Error& e) {
    throw comm::CollectiveError(e.what());
  }

  comm::MpiCommunicator comm;
  const bool root = comm.rank() == 0;
  const std::string out = output_dir(cli, "cv", comm);
  std::vector<trainer::CvFold> folds;
  for (int64_t i = 0; i < k; ++i) {
    ConfigValues values = fold_values(base, k, i);
    values["log.dir"] = out;
    values["log.name"] = "fold-" + std::to_string(i);
    trainer::CvFold f{to_run_config(values), to_ini(values)};  // checked above (fold 0)
    attach_process_inputs(f.config);
    folds.push_back(std::move(f));
  }
  if (root)
    for (const std::string& note : notes) std::printf("lockstep cv: note: %s\n", note.c_str());
  trainer::TuningObserver observer;
  observer.rows_partitioned = [&](int64_t rows) {
    std::printf("lockstep cv: %lld folds of %lld rows, ranked by the best %s, in %s\n",
                static_cast<long long>(k), static_cast<long long>(rows), metric.metric.c_str(),
                out.c_str());
  };
  observer.started = [&](size_t i) {
    std::printf("\n=== cv fold %zu/%lld\n", i, static_cast<long long>(k));
    std::fflush(stdout);
  };
  observer.finished = [&](size_t i, const trainer::RunResult& r) {
    if (r.status == trainer::RunStatus::kFailed) {
      std::printf("cv fold %zu failed (exit %d): %s; going on\n", i, r.exit_code, r.error.c_str());
      std::fflush(stdout);
    } else {
      print_outcome(r.outcome, folds[i].config);
    }
  };
  const trainer::CvSummary s =
      trainer::run_cv(folds, metric, out, mpi, run_hooks("cv", mpi.local_size()), observer);
  if (root) {
    const std::vector<std::string> figures = trainer::figure_names(cfg);
    std::vector<std::string> shown{"fold", "val_rows"};
    shown.insert(shown.end(), figures.begin(), figures.end());
    for (const std::string& c : {"best_" + metric.metric, std::string("status")})
      shown.push_back(c);
    std::string summary;
    for (const auto& [name, m] : s.summary)
      summary += "  " + name + " " + trainer::cell(m.mean) + " ± " +
                 (m.count > 1 ? trainer::cell(m.std) : "?") + "\n";
    std::printf("\ncross-validation (%s/cv.csv):\n%s\nmean ± std over the folds:\n%s", out.c_str(),
                s.table.text(shown).c_str(), summary.c_str());
    std::fflush(stdout);
  }
  return s.exit_code;
}

}  // namespace lockstep::launch
