// lockstep sweep: grid or random search over configuration keys. Every rank
// runs every trial (a whole training run in OUT/trial-NNN); rank 0 rewrites
// OUT/results.csv and OUT/best.ini after each trial (README "sweep").

#include <cstdio>

#include "comm/mpi.hpp"
#include "launch/commands.hpp"
#include "launch/options.hpp"
#include "launch/sweep_space.hpp"
#include "launch/train_report.hpp"
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
  trainer::MetricChoice metric;
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
  std::vector<trainer::SweepTrial> runs;
  for (size_t i = 0; i < trials.size(); ++i) {
    trainer::SweepTrial t;
    t.name = trial_name(i + 1);
    t.settings.assign(trials[i].begin(), trials[i].end());
    ConfigValues values = with_trial(base, trials[i]);
    t.config_ini = to_ini(values);
    values["log.dir"] = out;
    values["log.name"] = t.name;
    t.run_ini = to_ini(values);
    t.config = to_run_config(values);  // checked above
    attach_process_inputs(t.config);
    runs.push_back(std::move(t));
  }
  if (root)
    for (const std::string& note : notes) std::printf("lockstep sweep: note: %s\n", note.c_str());
  if (root)
    std::printf("lockstep sweep: %zu trial(s) (%s), ranked by the best %s (%s), in %s\n",
                trials.size(), cli.count("random") ? "random search" : "grid",
                metric.metric.c_str(), metric.maximize ? "max" : "min", out.c_str());

  trainer::TuningObserver observer;
  observer.started = [&](size_t i) {
    std::printf("\n=== sweep %s (%zu/%zu): %s\n", runs[i].name.c_str(), i + 1, runs.size(),
                describe(trials[i]).c_str());
    std::fflush(stdout);
  };
  observer.finished = [&](size_t i, const trainer::RunResult& r) {
    if (r.status == trainer::RunStatus::kFailed) {
      std::printf("sweep %s failed (exit %d): %s; going on\n", runs[i].name.c_str(), r.exit_code,
                  r.error.c_str());
      std::fflush(stdout);
    } else {
      print_outcome(r.outcome, runs[i].config);
    }
  };
  const trainer::SweepSummary s = trainer::run_sweep(
      runs, metric, out, mpi, run_hooks("sweep", mpi.local_size()), observer);

  if (root) {
    std::vector<std::string> shown{"trial"};
    for (const auto& [k, v] : trials.front()) shown.push_back(k);
    for (const std::string& c : {"best_" + metric.metric, std::string("best_epoch"),
                                 std::string("seconds"), std::string("status")})
      shown.push_back(c);
    std::printf("\nsweep results (%s/results.csv):\n%s", out.c_str(), s.table.text(shown).c_str());
    if (s.best)
      std::printf(
          "best: %s (%s %s at epoch %lld): %s\nits config: %s/best.ini (lockstep train "
          "--config %s/best.ini)\n",
          runs[*s.best].name.c_str(), metric.metric.c_str(),
          trainer::cell(s.results[*s.best].best.value).c_str(),
          static_cast<long long>(s.results[*s.best].best.epoch), describe(trials[*s.best]).c_str(),
          out.c_str(), out.c_str());
    else
      std::printf("no trial finished with a %s value\n", metric.metric.c_str());
    std::fflush(stdout);
  }
  return s.exit_code;
}

}  // namespace lockstep::launch
