// lockstep sweep: grid or random search over configuration keys. Every rank
// runs every trial (a whole training run in OUT/trial-NNN); rank 0 rewrites
// OUT/results.csv and OUT/best.ini after each trial (README "sweep").

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "comm/mpi.hpp"
#include "launch/commands.hpp"
#include "launch/sweep_space.hpp"
#include "launch/tuning.hpp"

namespace po = boost::program_options;

namespace lockstep::launch {

namespace {

constexpr const char* kUsage =
    "lockstep sweep: grid or random search, each trial a whole training run\n\n"
    "Usage: lockstep sweep --config base.ini --grid KEY=V1,V2 [--grid ...] [--random N --seed S]\n"
    "                      [--metric val_loss --mode auto] [--out DIR] [--section.key value ...]\n"
    "  --grid KEY=SPEC: a list (comma-separated, or '|'-separated when values hold commas);\n"
    "  with --random also uniform:LOW:HIGH, loguniform:LOW:HIGH or int:LOW:HIGH";

std::string describe(const Trial& t) {
  std::string s;
  for (const auto& [k, v] : t) s += (s.empty() ? "" : " ") + k + "=" + v;
  return s;
}

ConfigValues with_trial(ConfigValues values, const Trial& t) {
  for (const auto& [k, v] : t) values[k] = v;
  return values;
}

std::string trial_name(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "trial-%03zu", i);
  return buf;
}

}  // namespace

int run_sweep(int argc, char** argv, comm::MpiSession& mpi) {
  ConfigValues base;
  po::variables_map cli;
  std::vector<Trial> trials;
  std::vector<std::string> notes;
  RunConfig base_cfg;
  MetricChoice metric;
  try {  // every rank parses the same arguments and fails the same way: end cleanly
    po::options_description own("Sweep");
    own.add_options()("grid", po::value<std::vector<std::string>>()->composing(),
                      "KEY=SPEC: a key to sweep and its values (repeatable)")(
        "random", po::value<int64_t>(), "N: a random search of N trials (default: the full grid)")(
        "seed", po::value<uint64_t>()->default_value(0), "seed of the random search");
    add_tuning_options(own, "output folder [sweep-<date>-<time>]");
    if (!parse_config_args(argc, argv, "sweep", kUsage, own, cli, base, &notes)) return 0;
    if (!cli.count("grid"))
      throw Error("sweep: expected at least one --grid KEY=VALUES, got none (see --help)");
    std::vector<SweepParam> params;
    for (const std::string& g : cli["grid"].as<std::vector<std::string>>()) {
      params.push_back(parse_sweep_param(g));
      const std::string& key = params.back().key;
      if (!base.count(key))
        throw Error("--grid '" + g +
                    "': expected a configuration key (see lockstep train --help), " +
                    "got unknown key '" + key + "'");
      if (key == "log.dir" || key == "log.name")
        throw Error("--grid '" + g + "': " + key + " is set by the sweep (OUT/trial-NNN)");
    }
    // A swept batch key replaces the other one of the base config, said once.
    bool swept_batch = false;
    for (const SweepParam& p : params) {
      if (p.key != "train.batch_size" && p.key != "train.global_batch_size") continue;
      if (swept_batch)
        throw Error(
            "--grid train.batch_size and --grid train.global_batch_size: expected at most one "
            "of them, got both (train.batch_size is per rank, train.global_batch_size divided "
            "among the ranks)");
      swept_batch = true;
      if (const auto note = override_batch_key(base, p.key, "--grid ")) notes.push_back(*note);
    }
    trials = cli.count("random")
                 ? random_trials(params, cli["random"].as<int64_t>(), cli["seed"].as<uint64_t>())
                 : grid_trials(params);
    base_cfg = to_run_config(base);
    metric = resolve_metric(cli, base_cfg);
    for (size_t i = 0; i < trials.size(); ++i) {  // every trial's values, before any trial runs
      try {
        to_run_config(with_trial(base, trials[i]));
      } catch (const Error& e) {
        throw Error(trial_name(i + 1) + " (" + describe(trials[i]) + "): " + e.what());
      }
    }
  } catch (const Error& e) {
    throw comm::CollectiveError(e.what());
  }

  comm::MpiCommunicator comm;
  const bool root = comm.rank() == 0;
  const std::string out = output_dir(cli, "sweep", comm);
  root_writes(comm, [&] { std::filesystem::create_directories(out); });
  std::vector<std::string> header{"trial"};
  for (const auto& [k, v] : trials.front()) header.push_back(k);
  const std::vector<std::string> figures = figure_names(base_cfg);
  const std::vector<std::string> columns = run_columns(figures, metric);
  header.insert(header.end(), columns.begin(), columns.end());
  ResultsTable table(header);
  std::optional<size_t> best;
  double best_value = 0;
  int exit_code = 0;
  if (root)
    for (const std::string& note : notes) std::printf("lockstep sweep: note: %s\n", note.c_str());
  if (root)
    std::printf("lockstep sweep: %zu trial(s) (%s), ranked by the best %s (%s), in %s\n",
                trials.size(), cli.count("random") ? "random search" : "grid",
                metric.metric.c_str(), metric.maximize ? "max" : "min", out.c_str());

  for (size_t i = 0; i < trials.size(); ++i) {
    const std::string name = trial_name(i + 1);
    if (root) {
      std::printf("\n=== sweep %s (%zu/%zu): %s\n", name.c_str(), i + 1, trials.size(),
                  describe(trials[i]).c_str());
      std::fflush(stdout);
    }
    ConfigValues values = with_trial(base, trials[i]);
    values["log.dir"] = out;
    values["log.name"] = name;
    const RunResult r = run_one(values, mpi, metric, base_cfg.loss);
    if (root && r.status == "failed")
      std::printf("sweep %s failed (exit %d): %s; going on\n", name.c_str(), r.exit_code,
                  r.error.c_str());
    std::vector<std::string> row{name};
    for (const auto& [k, v] : trials[i]) row.push_back(v);
    const std::vector<std::string> cells = run_cells(r, figures, base_cfg.loss);
    row.insert(row.end(), cells.begin(), cells.end());
    table.add(row);
    if (r.status == "ok" && r.best.epoch > 0 &&
        (!best || (metric.maximize ? r.best.value > best_value : r.best.value < best_value))) {
      best = i;
      best_value = r.best.value;
    }
    root_writes(comm, [&] {
      table.write_csv(out + "/results.csv");
      if (best) {
        std::ofstream ini(out + "/best.ini");
        ini << "# lockstep sweep: " << trial_name(*best + 1) << ", best " << metric.metric << " "
            << cell(best_value) << "\n"
            << to_ini(with_trial(base, trials[*best]));
        if (!ini) throw Error("'" + out + "/best.ini': write failed");
      }
    });
    if (r.status == "stopped") {  // a stop signal: end the sweep with the run's exit code
      exit_code = r.exit_code;
      break;
    }
  }

  if (root) {
    std::vector<std::string> shown{"trial"};
    for (const auto& [k, v] : trials.front()) shown.push_back(k);
    for (const std::string& c : {"best_" + metric.metric, std::string("best_epoch"),
                                 std::string("seconds"), std::string("status")})
      shown.push_back(c);
    std::printf("\nsweep results (%s/results.csv):\n%s", out.c_str(), table.text(shown).c_str());
    if (best)
      std::printf(
          "best: %s (%s %s at epoch %s): %s\nits config: %s/best.ini (lockstep train "
          "--config %s/best.ini)\n",
          trial_name(*best + 1).c_str(), metric.metric.c_str(), cell(best_value).c_str(),
          table.rows()[*best][header.size() - 4].c_str(), describe(trials[*best]).c_str(),
          out.c_str(), out.c_str());
    else
      std::printf("no trial finished with a %s value\n", metric.metric.c_str());
    std::fflush(stdout);
  }
  if (exit_code != 0) return exit_code;
  return best ? 0 : 1;
}

}  // namespace lockstep::launch
