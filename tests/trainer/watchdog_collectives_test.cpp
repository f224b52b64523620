// The watchdog covers every collective of a run, not only the gradient
// all-reduce (README "Failure behaviour": "gradient all-reduce, parameter
// broadcast, the metric sums, the agreements on errors and checkpoints"). One
// rank arrives late at one collective at a time; every other rank,
// with a watchdog of timeout kTimeout and a recording handler, must report
// that collective by name and step. The late rank then joins, so the run goes
// on. On 2 ranks: the communicator level (each collective of MpiCommunicator
// and the agreement helpers), and the trainer level (the parameter broadcast,
// the agreement before training, the stop-signal agreement after a step, the
// evaluation's metric sums).

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "comm/mpi.hpp"
#include "comm/watchdog.hpp"
#include "core/rng.hpp"
#include "io/dataset.hpp"
#include "trainer/eval_metrics.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::trainer {
namespace {

using namespace std::chrono_literals;

constexpr double kTimeout = 0.3;  // s
// The late rank waits until the others have reported (a line each in a file
// all ranks see), at least kMinLag and at most kMaxLag: fixed delays were too
// short on a loaded machine, where MPI's busy waits starve the watchdog thread.
constexpr std::chrono::milliseconds kMinLag{400}, kMaxLag{10000};

// Records the watchdog's reports, and counts them in `file` for the late rank.
struct Recorder {
  std::mutex mutex;
  std::vector<std::string> messages;
  std::string file;
  comm::Watchdog::Handler handler() {
    return [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mutex);
      messages.push_back(m);
      std::ofstream(file, std::ios::app) << "reported\n";
    };
  }
  std::vector<std::string> take() {
    std::lock_guard<std::mutex> lock(mutex);
    return std::exchange(messages, {});
  }
};

int64_t count_lines(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

struct Watched {
  comm::MpiCommunicator world;
  Recorder recorder;
  comm::Watchdog watchdog{world.rank(), kTimeout, recorder.handler()};
  int late = 0;  // the rank that comes late
  Watched() {
    static int instances = 0;  // a fresh file for each test
    const std::string file = (std::filesystem::temp_directory_path() /
                              ("lockstep_watchdog_reports_" + std::to_string(getpid()) + "_" +
                               std::to_string(++instances)))
                                 .string();
    {
      std::lock_guard<std::mutex> lock(recorder.mutex);
      recorder.file = comm::broadcast_string(world, file, 0);
    }
    world.set_watchdog(&watchdog);
  }
  ~Watched() {
    world.set_watchdog(nullptr);
    if (world.rank() == 0) std::filesystem::remove(recorder.file);
  }
  // The late rank arrives once every other rank has reported (or after
  // kMaxLag, and the check that follows fails); the others go straight on.
  void lag() {
    if (world.rank() != late) return;
    // Reports seen so far; a report can only come kTimeout after this point.
    const int64_t before = count_lines(recorder.file);
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(kMinLag);
    while (count_lines(recorder.file) < before + world.size() - 1 &&
           std::chrono::steady_clock::now() - t0 < kMaxLag)
      std::this_thread::sleep_for(10ms);
  }
  // On every rank but the late one: exactly one report, of `op` at `step`.
  void expect_reported(const std::string& op, const std::string& step) {
    const std::vector<std::string> m = recorder.take();
    if (world.rank() == late) {
      EXPECT_TRUE(m.empty()) << m.front();
      return;
    }
    ASSERT_EQ(m.size(), 1u) << "no report of a late " << op;
    const std::string expected = "lockstep: rank " + std::to_string(world.rank()) + ": " + op +
                                 " did not complete within 0.3 s at step " + step;
    EXPECT_EQ(m[0].rfind(expected, 0), 0u) << m[0] << "\nexpected it to start with\n" << expected;
  }
  // The late rank comes late to `collective`; the others must report it.
  template <class F>
  void check(int late_rank, const std::string& op, F&& collective) {
    SCOPED_TRACE(op);
    late = late_rank;
    lag();
    collective();
    expect_reported(op, std::to_string(watchdog.step()) + ": ");
  }
};

// A broadcast's root may return before the others have the data, so there the
// root is the late rank; in the other collectives every rank waits for all.
TEST(WatchdogCoversEveryCollective, CommunicatorLevel) {
  Watched w;
  if (w.world.size() < 2) GTEST_SKIP() << "needs 2+ ranks";
  const int last = w.world.size() - 1;
  w.watchdog.set_step(7);
  std::vector<float> f(3, 1.0f);
  std::vector<double> d(3, 1.0);
  std::vector<int64_t> i(3, 1);
  std::vector<uint8_t> u(3, 1);
  w.check(last, "broadcast", [&] { w.world.broadcast(std::span<float>(f), last); });
  w.check(last, "broadcast", [&] { w.world.broadcast(std::span<double>(d), last); });
  w.check(last, "broadcast", [&] { w.world.broadcast(std::span<uint8_t>(u), last); });
  // Metric sums (float64), counts and agreements (int64), float sums.
  w.check(last, "allreduce",
          [&] { w.world.allreduce(std::span<double>(d), comm::ReduceOp::kSum); });
  w.check(last, "allreduce",
          [&] { w.world.allreduce(std::span<int64_t>(i), comm::ReduceOp::kMax); });
  w.check(last, "allreduce", [&] { w.world.allreduce(std::span<float>(f), comm::ReduceOp::kSum); });
  w.check(last, "barrier", [&] { w.world.barrier(); });
  // The agreement on errors (an allgather of flags) and on configurations.
  w.check(last, "allgather", [&] { comm::agree_or_throw(w.world, std::nullopt); });
  w.check(last, "allgather", [&] { comm::check_same_across_ranks(w.world, 42, "the config"); });
  w.check(0, "broadcast", [&] { EXPECT_EQ(comm::broadcast_string(w.world, "abc", 0), "abc"); });
  // All in time: nothing reported.
  w.world.allreduce(std::span<double>(d), comm::ReduceOp::kSum);
  std::this_thread::sleep_for(600ms);
  EXPECT_TRUE(w.recorder.take().empty());
}

constexpr int64_t kFeatures = 4, kRowsPerRank = 16, kBatch = 4;

std::string write_dataset(comm::Communicator& comm) {
  std::string path;
  if (comm.rank() == 0) {
    path = (std::filesystem::temp_directory_path() /
            ("lockstep_watchdog_" + std::to_string(getpid()) + ".h5"))
               .string();
    io::DatasetArrays a;
    a.sample_shape = {kFeatures};
    a.feature_type = io::FeatureType::kFloat32;
    Rng rng(9);
    for (int64_t r = 0; r < kRowsPerRank * comm.size(); ++r) {
      for (int64_t f = 0; f < kFeatures; ++f)
        a.features_f32.push_back(static_cast<float>(rng.normal()));
      a.labels.push_back(static_cast<int32_t>(r % 3));
    }
    io::write_dataset({path, "/features", "/labels"}, a);
  }
  return comm::broadcast_string(comm, path, 0);
}

TEST(WatchdogCoversEveryCollective, TrainerLevel) {
  Watched w;
  if (w.world.size() < 2) GTEST_SKIP() << "needs 2+ ranks";
  const int last = w.world.size() - 1;
  const std::string path = write_dataset(w.world);
  ShardedData data(DataOptions{{path, "/features", "/labels"}, {}}, w.world);
  w.recorder.take();
  Model model("dense(8), relu, dense(3)", {kFeatures});
  model.init_params(1, InitScheme::kHe);
  Sgd sgd(model.params(), SgdOptions{});
  TrainOptions options;
  options.epochs = 1;
  options.batch_size = kBatch;
  options.progress = "off";
  options.shuffle = false;
  // The late rank polls its stop signal slowly after the epoch's last step:
  // the others wait in the stop-signal agreement (a one-integer all-reduce;
  // within an epoch it completes a step later, behind the next step's
  // gradient all-reduce, and is blocking only at the epoch's end).
  int polls = 0;
  options.stop_signal = [&] {
    if (polls++ == kRowsPerRank / kBatch - 1) w.lag();
    return 0;
  };
  Trainer trainer(w.world, model, Loss(LossKind::kCrossEntropy), sgd, LrSchedule(ScheduleOptions{}),
                  options);

  // The parameter broadcast (root: rank 0).
  w.check(0, "broadcast", [&] { trainer.broadcast_parameters(); });

  // fit: the agreement that every rank built its input pipeline (the late
  // rank comes late to it), then the stop-signal agreement after the last step.
  w.late = last;
  w.lag();
  trainer.fit(data, nullptr, nullptr);
  EXPECT_EQ(polls, kRowsPerRank / kBatch);
  const std::vector<std::string> m = w.recorder.take();
  if (w.world.rank() != last) {
    ASSERT_EQ(m.size(), 2u) << "expected the pipeline agreement and the stop agreement";
    EXPECT_NE(m[0].find(": allgather did not complete within 0.3 s at step 0: "), std::string::npos)
        << m[0];
    EXPECT_NE(m[1].find(": allreduce did not complete within 0.3 s at step "), std::string::npos)
        << m[1];
  }

  // The evaluation's metric sums.
  EvalMetrics metrics(LossKind::kCrossEntropy, 3, 1);
  metrics.add(Tensor::zeros({2, 3}, DType::kF32), Tensor::zeros({2}, DType::kI32),
              Tensor::zeros({2}, DType::kF64));
  w.check(last, "allreduce", [&] { metrics.reduce(w.world); });
  EXPECT_EQ(metrics.samples(), 2 * w.world.size());
  w.world.barrier();
  if (w.world.rank() == 0) std::filesystem::remove(path);
}

}  // namespace
}  // namespace lockstep::trainer
