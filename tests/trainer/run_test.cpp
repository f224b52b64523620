// The training run and the tuning runs as library calls (trainer/run.hpp,
// trainer/tuning.hpp), on 1 and 2 ranks: a run trains its epochs and writes
// its run directory; stop_after_steps stops with a checkpoint; a sweep ranks
// its trials by their best metric (a failing trial is recorded and the sweep
// goes on) and writes results.csv and best.ini; cross-validation runs every
// fold, writes folds.csv and cv.csv, and averages the folds' figures.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "comm/mpi.hpp"
#include "io/dataset.hpp"
#include "io/model_file.hpp"
#include "trainer/run.hpp"
#include "trainer/tuning.hpp"

namespace lockstep::trainer {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kRows = 96;

// One folder per test, made by rank 0 and named to every rank, with a
// three-class dataset (4 features; the class is the largest of the first three).
struct Workspace {
  comm::MpiSession mpi{nullptr, nullptr};
  comm::MpiCommunicator comm;
  std::string dir;
  std::string data;

  explicit Workspace(const std::string& name) {
    if (comm.rank() == 0) {
      dir = (fs::temp_directory_path() / ("lockstep_run_" + name + "_" + std::to_string(getpid())))
                .string();
      fs::remove_all(dir);
      fs::create_directories(dir);
      io::DatasetArrays a;
      a.sample_shape = {4};
      uint64_t state = 12345;
      const auto next = [&] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<float>((state >> 40) % 1000) / 1000.0f;
      };
      for (int64_t i = 0; i < kRows; ++i) {
        float x[4] = {next(), next(), next(), next()};
        a.features_f32.insert(a.features_f32.end(), x, x + 4);
        a.labels.push_back(x[0] > x[1] ? (x[0] > x[2] ? 0 : 2) : (x[1] > x[2] ? 1 : 2));
      }
      io::write_dataset({dir + "/data.h5", "/features", "/labels"}, a);
    }
    dir = comm::broadcast_string(comm, dir, 0);
    data = dir + "/data.h5";
  }
  ~Workspace() {
    comm.barrier();
    if (comm.rank() == 0) fs::remove_all(dir);
  }

  RunConfig config(const std::string& name) const {
    RunConfig c;
    c.layers = "dense(16), relu, dense(3)";
    c.train_data.spec.path = data;
    c.train.epochs = 3;
    c.train.batch_size = 8;
    c.train.eval_batch_size = 32;
    c.train.progress = "off";
    c.lr = 0.1;
    c.log_dir = dir;
    c.run_name = name;
    c.log_tensorboard = false;
    c.device = "cpu";
    c.threads = 1;
    return c;
  }
};

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(RunTraining, TrainsEveryEpochAndWritesTheRun) {
  Workspace w("train");
  const RunConfig c = w.config("r");
  int started = 0;
  RunHooks hooks;
  hooks.started = [&](const RunSetup& s) {
    ++started;
    EXPECT_EQ(s.steps_per_epoch, kRows / (8 * w.comm.size()));
    EXPECT_EQ(s.global_batch, 8 * w.comm.size());
    EXPECT_NE(s.config, nullptr);
  };
  const RunOutcome out = run_training(c, "[model]\nlayers = test\n", w.mpi, hooks);
  EXPECT_EQ(started, w.comm.rank() == 0 ? 1 : 0);
  EXPECT_EQ(out.end, RunEnd::kFinished);
  EXPECT_EQ(out.exit_code, 0);
  ASSERT_EQ(out.records.size(), 3u);
  EXPECT_EQ(out.step, 3 * (kRows / (8 * w.comm.size())));
  EXPECT_LT(out.records.back().train.loss, out.records.front().train.loss);
  EXPECT_EQ(out.run_dir, w.dir + "/r");
  if (w.comm.rank() == 0) {
    EXPECT_TRUE(fs::exists(out.run_dir + "/final.h5"));
    EXPECT_EQ(read(out.run_dir + "/config.ini"), "[model]\nlayers = test\n");
    EXPECT_TRUE(fs::exists(out.run_dir + "/metrics.jsonl"));
  }
  // The same name again is refused on every rank, before anything is written.
  EXPECT_THROW(run_training(c, "x", w.mpi), comm::CollectiveError);
}

TEST(RunTraining, GlobalBatchAndStopAfterSteps) {
  Workspace w("stop");
  RunConfig c = w.config("s");
  c.global_batch_size = 16;
  c.train.stop_after_steps = 2;
  const RunOutcome out = run_training(c, "ini", w.mpi);
  EXPECT_EQ(out.end, RunEnd::kStoppedAfterSteps);
  EXPECT_EQ(out.step, 2);
  if (w.comm.rank() == 0) {  // rank 0 writes checkpoints
    EXPECT_NE(out.last_checkpoint.find("/s/checkpoints/ckpt-0000000002.h5"), std::string::npos)
        << out.last_checkpoint;
    EXPECT_FALSE(fs::exists(out.run_dir + "/final.h5"));
  }
  c.global_batch_size = 15;  // not a multiple of 2 ranks
  c.run_name = "odd";
  if (w.comm.size() == 2) {
    EXPECT_THROW(run_training(c, "ini", w.mpi), comm::CollectiveError);
  }
}

// log.trace: trace.json holds, per rank, each recorded step's layers forward
// and backward, input waits, optimizer, the step, the all-reduce buckets (on
// several ranks) and checkpoint writes; epoch records carry the exposed
// communication and overlap.
TEST(RunTraining, TraceHoldsEveryRanksTimeline) {
  Workspace w("trace");
  RunConfig c = w.config("t");
  c.trace = true;
  c.trace_steps = 3;
  c.train.epochs = 1;
  c.train.bucket_bytes = 64 * sizeof(float);  // several buckets
  const RunOutcome out = run_training(c, "ini", w.mpi);
  ASSERT_EQ(out.end, RunEnd::kFinished);
  if (w.comm.rank() != 0) return;
  const nlohmann::json trace = nlohmann::json::parse(read(out.run_dir + "/trace.json"));
  const int layers = 3;
  for (int rank = 0; rank < w.comm.size(); ++rank) {
    std::map<std::string, int> count;
    std::set<int64_t> steps;
    for (const auto& e : trace["traceEvents"]) {
      if (e["ph"] != "X" || e["pid"] != rank) continue;
      ++count[e["cat"].get<std::string>()];
      if (e["cat"] != "checkpoint") steps.insert(e["args"]["step"].get<int64_t>());
      EXPECT_GE(e["dur"].get<double>(), 0.0);
    }
    SCOPED_TRACE("rank " + std::to_string(rank));
    EXPECT_EQ(count["forward"], 3 * (layers + 1));  // each layer, then the loss
    EXPECT_EQ(count["backward"], 3 * layers);
    EXPECT_EQ(count["input"], 3);
    EXPECT_EQ(count["optimizer"], 3);
    EXPECT_EQ(count["step"], 3);
    EXPECT_EQ(count["checkpoint"], 1);  // the epoch's end
    if (w.comm.size() > 1) {
      EXPECT_GE(count["communication"], 3 * 3);  // buckets and the wait
    }
    EXPECT_EQ(steps, (std::set<int64_t>{0, 1, 2}));
  }
  const std::string metrics = read(out.run_dir + "/metrics.jsonl");
  EXPECT_NE(metrics.find("\"exposed_comm_s\""), std::string::npos);
  EXPECT_NE(metrics.find("\"overlap\""), std::string::npos);
}

// dist.shard_optimizer: a sharded run's checkpoint holds the whole optimizer
// state, so it resumes unsharded (or on any number of ranks) and ends where
// an unsharded run ends.
TEST(RunTraining, ShardedOptimizerCheckpointResumesUnsharded) {
  Workspace w("zero");
  RunConfig plain = w.config("plain");
  plain.train.epochs = 2;
  plain.optimizer = "adam";
  plain.lr = 0.01;
  ASSERT_EQ(run_training(plain, "ini", w.mpi).end, RunEnd::kFinished);
  RunConfig zero = plain;
  zero.run_name = "zero";
  zero.train.shard_optimizer = true;
  zero.train.stop_after_steps = 5;
  ASSERT_EQ(run_training(zero, "ini", w.mpi).end, RunEnd::kStoppedAfterSteps);
  zero.train.shard_optimizer = false;
  zero.train.stop_after_steps = 0;
  zero.resume = "auto";
  ASSERT_EQ(run_training(zero, "ini", w.mpi).end, RunEnd::kFinished);
  if (w.comm.rank() == 0) {
    const io::SavedModel a = io::load_model(w.dir + "/plain/final.h5");
    const io::SavedModel b = io::load_model(w.dir + "/zero/final.h5");
    ASSERT_EQ(a.parameters.size(), b.parameters.size());
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.parameters.size(); ++i) {
      diff += (a.parameters[i] - b.parameters[i]) * (a.parameters[i] - b.parameters[i]);
      norm += a.parameters[i] * a.parameters[i];
    }
    EXPECT_LT(std::sqrt(diff / norm), 1e-6);
  }
}

TEST(Tuning, SweepRanksTrialsAndGoesOnAfterAFailure) {
  Workspace w("sweep");
  std::vector<SweepTrial> trials;
  for (const char* lr : {"0.001", "1e30", "0.3"}) {
    SweepTrial t;
    t.name = std::string("trial-") + lr;
    t.settings = {{"optim.lr", lr}};
    t.config = w.config(t.name);
    t.config.val_fraction = 0.25;
    t.config.lr = std::stod(lr);
    t.config_ini = std::string("lr = ") + lr + "\n";
    t.run_ini = t.config_ini;
    trials.push_back(std::move(t));
  }
  const MetricChoice metric = choose_metric("", "auto", trials[0].config);
  EXPECT_EQ(metric.metric, "val_loss");
  EXPECT_FALSE(metric.maximize);
  size_t finished = 0;
  TuningObserver observer;
  observer.finished = [&](size_t, const RunResult&) { ++finished; };
  const SweepSummary s = run_sweep(trials, metric, w.dir + "/out", w.mpi, {}, observer);
  ASSERT_EQ(s.results.size(), 3u);
  EXPECT_EQ(finished, w.comm.rank() == 0 ? 3u : 0u);
  EXPECT_EQ(s.results[0].status, RunStatus::kOk);
  EXPECT_EQ(s.results[1].status, RunStatus::kFailed);  // a non-finite loss
  EXPECT_NE(s.results[1].error.find("non-finite"), std::string::npos) << s.results[1].error;
  EXPECT_EQ(s.results[2].status, RunStatus::kOk);
  ASSERT_TRUE(s.best.has_value());
  EXPECT_EQ(*s.best, 2u);  // lr 0.3 learns in 3 epochs, 0.001 hardly moves
  EXPECT_LT(s.results[2].best.value, s.results[0].best.value);
  EXPECT_EQ(s.exit_code, 0);
  ASSERT_EQ(s.table.rows().size(), 3u);
  EXPECT_EQ(s.table.header()[1], "optim.lr");
  EXPECT_EQ(s.table.rows()[1][s.table.header().size() - 2], "failed");
  if (w.comm.rank() == 0) {
    EXPECT_NE(read(w.dir + "/out/best.ini").find("lr = 0.3\n"), std::string::npos);
    const std::string csv = read(w.dir + "/out/results.csv");
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  }
}

TEST(Tuning, CrossValidationRunsEveryFoldAndAverages) {
  Workspace w("cv");
  std::vector<CvFold> folds;
  for (int64_t i = 0; i < 3; ++i) {
    CvFold f{w.config("fold-" + std::to_string(i)), "fold " + std::to_string(i)};
    f.config.log_dir = w.dir + "/cv";
    f.config.folds = 3;
    f.config.fold = i;
    folds.push_back(std::move(f));
  }
  int64_t rows = -1;
  TuningObserver observer;
  observer.rows_partitioned = [&](int64_t n) { rows = n; };
  const MetricChoice metric = choose_metric("val_accuracy", "auto", folds[0].config);
  EXPECT_TRUE(metric.maximize);
  const CvSummary s = run_cv(folds, metric, w.dir + "/cv", w.mpi, {}, observer);
  if (w.comm.rank() == 0) {
    EXPECT_EQ(rows, kRows);
  }
  ASSERT_EQ(s.results.size(), 3u);
  ASSERT_EQ(s.row_folds.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(s.exit_code, 0);
  ASSERT_EQ(s.table.rows().size(), 5u);  // 3 folds, mean, std
  EXPECT_EQ(s.table.rows()[3][0], "mean");
  double sum = 0;
  for (const RunResult& r : s.results) {
    EXPECT_EQ(r.status, RunStatus::kOk);
    sum += r.best.value;
  }
  const auto best = std::find_if(s.summary.begin(), s.summary.end(),
                                 [](const auto& m) { return m.first == "best_val_accuracy"; });
  ASSERT_NE(best, s.summary.end());
  EXPECT_EQ(best->second.count, 3);
  EXPECT_DOUBLE_EQ(best->second.mean, sum / 3);
  // Every row is in one fold; the folds' sizes differ by at most one.
  std::vector<int64_t> sizes(3, 0);
  for (int32_t f : s.row_folds) ++sizes.at(static_cast<size_t>(f));
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()) -
                *std::min_element(sizes.begin(), sizes.end()),
            1);
  if (w.comm.rank() == 0) {
    EXPECT_TRUE(fs::exists(w.dir + "/cv/folds.csv"));
    EXPECT_TRUE(fs::exists(w.dir + "/cv/fold-2/final.h5"));
    EXPECT_EQ(read(w.dir + "/cv/fold-1/config.ini"), "fold 1");
  }
}

}  // namespace
}  // namespace lockstep::trainer
