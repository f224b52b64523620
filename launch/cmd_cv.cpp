// lockstep cv: k-fold cross-validation over the training rows (after
// data.limit). Fold i trains on the other folds and validates on fold i
// (data.folds / data.fold, the validation path of data.val_fraction); rank 0
// writes OUT/cv.csv (per fold, then mean and sample std) and OUT/folds.csv
// (the fold of every row) (README "cv").

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "comm/mpi.hpp"
#include "io/dataset.hpp"
#include "io/rows.hpp"
#include "launch/commands.hpp"
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
  MetricChoice metric;
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
  std::vector<int32_t> folds;  // the fold of every row in use: the same on every rank
  comm::check_on_all_ranks(comm, [&] {
    int64_t n = io::probe_dataset(cfg.train_data.spec).num_samples;
    if (cfg.train_data.limit > 0) n = std::min(n, cfg.train_data.limit);
    LOCKSTEP_CHECK(k <= n, "--folds " << k << ": expected at most one fold per training row (" << n
                                      << " rows of '" << cfg.train_data.spec.path
                                      << "' in use after data.limit), got " << k << " folds");
    folds = io::fold_assignment(n, k, cfg.val_seed);
  });
  const std::string out = output_dir(cli, "cv", comm);
  root_writes(comm, [&] {
    std::filesystem::create_directories(out);
    std::ofstream f(out + "/folds.csv");
    f << "row,fold\n";
    for (size_t i = 0; i < folds.size(); ++i) f << i << "," << folds[i] << "\n";
    if (!f) throw Error("'" + out + "/folds.csv': write failed");
  });
  std::vector<int64_t> fold_rows(static_cast<size_t>(k), 0);
  for (int32_t f : folds) ++fold_rows[static_cast<size_t>(f)];

  const std::vector<std::string> figures = figure_names(cfg);
  std::vector<std::string> header{"fold", "train_rows", "val_rows"};
  const std::vector<std::string> columns = run_columns(figures, metric);
  header.insert(header.end(), columns.begin(), columns.end());
  ResultsTable table(header);
  if (root)
    for (const std::string& note : notes) std::printf("lockstep cv: note: %s\n", note.c_str());
  if (root)
    std::printf("lockstep cv: %lld folds of %zu rows, ranked by the best %s, in %s\n",
                static_cast<long long>(k), folds.size(), metric.metric.c_str(), out.c_str());
  int exit_code = 0;
  for (int64_t i = 0; i < k; ++i) {
    if (root) {
      std::printf("\n=== cv fold %lld/%lld\n", static_cast<long long>(i),
                  static_cast<long long>(k));
      std::fflush(stdout);
    }
    ConfigValues values = fold_values(base, k, i);
    values["log.dir"] = out;
    values["log.name"] = "fold-" + std::to_string(i);
    const RunResult r = run_one(values, mpi, metric, cfg.loss);
    if (root && r.status == "failed")
      std::printf("cv fold %lld failed (exit %d): %s; going on\n", static_cast<long long>(i),
                  r.exit_code, r.error.c_str());
    const int64_t val_rows = fold_rows[static_cast<size_t>(i)];
    std::vector<std::string> row{std::to_string(i),
                                 std::to_string(static_cast<int64_t>(folds.size()) - val_rows),
                                 std::to_string(val_rows)};
    const std::vector<std::string> cells = run_cells(r, figures, cfg.loss);
    row.insert(row.end(), cells.begin(), cells.end());
    table.add(row);
    root_writes(comm, [&] { table.write_csv(out + "/cv.csv"); });
    if (r.status == "stopped") {
      exit_code = r.exit_code;
      break;
    }
  }

  // Mean and sample std of every numeric column over the folds that finished.
  std::vector<std::string> mean_row{"mean"}, std_row{"std"};
  std::string summary;
  for (size_t c = 1; c < header.size(); ++c) {
    std::vector<double> v;
    bool numeric = header[c] != "status" && header[c] != "error";
    for (const auto& row : table.rows())
      if (numeric && row[header.size() - 2] == "ok" && !row[c].empty())
        v.push_back(std::stod(row[c]));
    const trainer::MeanStd m = trainer::mean_std(v);
    mean_row.push_back(numeric ? cell(m.mean) : "");
    std_row.push_back(numeric ? cell(m.std) : "");
    if (numeric && c > 3 && header[c] != "seconds" && header[c] != "best_epoch" && m.count > 0)
      summary +=
          "  " + header[c] + " " + cell(m.mean) + " ± " + (m.count > 1 ? cell(m.std) : "?") + "\n";
  }
  table.add(mean_row);
  table.add(std_row);
  root_writes(comm, [&] { table.write_csv(out + "/cv.csv"); });
  if (root) {
    std::vector<std::string> shown{"fold", "val_rows"};
    shown.insert(shown.end(), figures.begin(), figures.end());
    for (const std::string& c : {"best_" + metric.metric, std::string("status")})
      shown.push_back(c);
    std::printf("\ncross-validation (%s/cv.csv):\n%s\nmean ± std over the folds:\n%s", out.c_str(),
                table.text(shown).c_str(), summary.c_str());
    std::fflush(stdout);
  }
  if (exit_code != 0) return exit_code;
  for (const auto& row : table.rows())
    if (row[header.size() - 2] == "failed") return 1;
  return 0;
}

}  // namespace lockstep::launch
