// A step that does not block the host (trainer.hpp "Note: lagged step
// results"): launch() returns the outcome the host has just learnt (CPU
// ranks: this step's; GPU: the previous step's), whose sums equal what the
// blocking step() returns; the stop signal is agreed with a nonblocking
// all-reduce, so a signal seen by one rank after step s stops every rank
// after step s + 1 (after step s at an epoch's end). The GPU cases skip
// without a GPU. Runs on 1 and 2 ranks.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "comm/mpi.hpp"
#include "core/device.hpp"
#include "core/rng.hpp"
#include "core/transfer.hpp"
#include "io/dataset.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::trainer {
namespace {

constexpr int64_t kFeatures = 6, kBatch = 4, kRowsPerRank = 32;

struct Replica {
  Model model;
  Sgd sgd;
  Trainer trainer;
  Replica(comm::Communicator& comm, const char* layers, int64_t features, Device device,
          TrainOptions options)
      : model(layers, {features}, DType::kF32, device),
        sgd((model.init_params(5, InitScheme::kHe), model.params()), SgdOptions{0.9, false, 0.0}),
        trainer(comm, model, Loss(LossKind::kCrossEntropy), sgd, LrSchedule(ScheduleOptions{}),
                options) {
    trainer.broadcast_parameters();
  }
};

TrainOptions plain_options() {
  TrainOptions o;
  o.batch_size = kBatch;
  o.progress = "off";
  o.shuffle = false;
  return o;
}

std::pair<Tensor, Tensor> batch(int64_t rows, int64_t features, int64_t classes, uint64_t seed) {
  Tensor x = Tensor::empty({rows, features}, DType::kF32);
  Tensor y = Tensor::empty({rows}, DType::kI32);
  Rng rng(seed);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(rng.normal());
  for (int64_t i = 0; i < rows; ++i) y.data<int32_t>()[i] = static_cast<int32_t>(i % classes);
  return {x, y};
}

// The blocking step() and launch()/settle() give the same sums and the same
// parameters; on CPU ranks launch() has no lag.
void compare_lagged(comm::Communicator& comm, const char* layers, int64_t features, int64_t rows,
                    Device device, bool expect_lag) {
  TrainOptions options = plain_options();
  options.batch_size = rows;
  Replica blocking(comm, layers, features, device, options),
      lagged(comm, layers, features, device, options);
  std::vector<LossSums> want, got;
  for (int s = 0; s < 5; ++s) {
    const auto [x, y] = batch(rows, features, 3, 100 + static_cast<uint64_t>(s + comm.rank()));
    want.push_back(blocking.trainer.step(x, y));
    const std::optional<StepOutcome> o = lagged.trainer.launch(x, y);
    if (expect_lag) {
      ASSERT_EQ(o.has_value(), s > 0) << "step " << s;
      EXPECT_TRUE(lagged.trainer.step_pending());
    } else {
      ASSERT_TRUE(o.has_value());
      EXPECT_EQ(o->step, s);
      EXPECT_FALSE(lagged.trainer.step_pending());
    }
    if (o) got.push_back(o->sums);
  }
  if (const std::optional<StepOutcome> o = lagged.trainer.settle()) got.push_back(o->sums);
  EXPECT_FALSE(lagged.trainer.settle().has_value());
  ASSERT_EQ(got.size(), want.size());
  for (size_t s = 0; s < want.size(); ++s) {
    EXPECT_EQ(got[s].loss, want[s].loss) << "step " << s;
    EXPECT_EQ(got[s].correct, want[s].correct) << "step " << s;
    EXPECT_EQ(got[s].rows, want[s].rows) << "step " << s;
  }
  Tensor a = Tensor::empty(blocking.model.params().shape(), DType::kF32);
  Tensor b = Tensor::empty(lagged.model.params().shape(), DType::kF32);
  a.copy_from(blocking.model.params());
  b.copy_from(lagged.model.params());
  for (int64_t i = 0; i < a.numel(); ++i)
    ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << "parameter " << i;
}

TEST(LaggedOutcomes, CpuRanksSeeTheirStepAtOnce) {
  comm::MpiCommunicator comm;
  compare_lagged(comm, "dense(12), relu, dense(3)", kFeatures, kBatch, Device::kCpu, false);
}

TEST(LaggedOutcomes, GpuStepsAreReadOneStepLate) {
  if (device::count() == 0) GTEST_SKIP() << "no GPU visible";
  device::select(0, device::Precision::kFp32);
  comm::MpiCommunicator comm;
  compare_lagged(comm, "dense(64), relu, dense(3)", kFeatures, 32, Device::kCuda, true);
}

// No host sync inside a step: with a step long enough to measure, launch()
// returns while the GPU is still working on it.
TEST(LaggedOutcomes, GpuLaunchReturnsBeforeTheDeviceFinishes) {
  if (device::count() == 0) GTEST_SKIP() << "no GPU visible";
  device::select(0, device::Precision::kFp32);
  comm::MpiCommunicator comm;
  TrainOptions o = plain_options();
  o.batch_size = 2048;
  Replica r(comm, "dense(4096), relu, dense(4096), relu, dense(4096), relu, dense(3)", 1024,
            Device::kCuda, o);
  const auto [x, y] = batch(2048, 1024, 3, 7);
  Tensor xd = Tensor::empty(x.shape(), x.dtype(), Device::kCuda);
  Tensor yd = Tensor::empty(y.shape(), y.dtype(), Device::kCuda);
  xd.copy_from(x);
  yd.copy_from(y);
  r.trainer.step(xd, yd);  // warm-up: every buffer allocated
  int busy = 0;
  for (int s = 0; s < 3; ++s) {
    r.trainer.launch(xd, yd);
    if (!stream_idle()) ++busy;
  }
  r.trainer.settle();
  EXPECT_GE(busy, 2) << "launch() returned after the device had finished its step";
}

// dist.cuda_graph ("Note: CUDA graph steps"): refused where a graph cannot
// hold the step; on a GPU the same parameters and sums as eager steps, bit
// for bit (the captured kernels are the eager ones, with the same arguments).
TEST(CudaGraph, RefusedOnCpuRanks) {
  comm::MpiCommunicator comm;
  TrainOptions o = plain_options();
  o.cuda_graph = true;
  try {
    Replica r(comm, "dense(8), relu, dense(3)", kFeatures, Device::kCpu, o);
    ADD_FAILURE() << "expected dist.cuda_graph to be refused on a CPU rank";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dist.cuda_graph = true: expected GPU ranks"),
              std::string::npos)
        << e.what();
  }
}

TEST(CudaGraph, SameParametersAsEagerSteps) {
  if (device::count() == 0) GTEST_SKIP() << "no GPU visible";
  device::select(0, device::Precision::kFp32);
  comm::MpiCommunicator comm;
  const char* layers = "dense(64), batchnorm, relu, dense(32), relu, dense(3)";
  TrainOptions o = plain_options();
  o.batch_size = 32;
  o.on_nan = NanPolicy::kSkip;  // the BatchNorm backup and restore are captured too
  o.clip_norm = 0.5;
  Replica eager(comm, layers, kFeatures, Device::kCuda, o);
  o.cuda_graph = true;
  Replica graph(comm, layers, kFeatures, Device::kCuda, o);
  for (int s = 0; s < 8; ++s) {
    auto [x, y] = batch(32, kFeatures, 3, 300 + static_cast<uint64_t>(s + comm.rank()));
    if (s == 5) x.data<float>()[3] = std::numeric_limits<float>::infinity();  // a skipped step
    const LossSums a = eager.trainer.step(x, y);
    const LossSums b = graph.trainer.step(x, y);
    EXPECT_EQ(eager.trainer.last_step_skipped(), s == 5);
    EXPECT_EQ(graph.trainer.last_step_skipped(), s == 5);
    if (s != 5) {
      EXPECT_EQ(a.loss, b.loss) << "step " << s;
    }
    EXPECT_EQ(a.correct, b.correct) << "step " << s;
  }
  for (const auto& [pa, pb] : {std::pair{&eager.model.params(), &graph.model.params()},
                               std::pair{&eager.model.buffers(), &graph.model.buffers()}}) {
    Tensor a = Tensor::empty(pa->shape(), DType::kF32), b = Tensor::empty(pb->shape(), DType::kF32);
    a.copy_from(*pa);
    b.copy_from(*pb);
    for (int64_t i = 0; i < a.numel(); ++i)
      ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << "element " << i;
  }
  EXPECT_EQ(eager.sgd.steps(), 7);
  EXPECT_EQ(graph.sgd.steps(), 7);
}

TEST(CudaGraph, RefusesDropout) {
  if (device::count() == 0) GTEST_SKIP() << "no GPU visible";
  device::select(0, device::Precision::kFp32);
  comm::MpiCommunicator comm;
  TrainOptions o = plain_options();
  o.cuda_graph = true;
  EXPECT_THROW(Replica(comm, "dense(8), dropout(0.5), dense(3)", kFeatures, Device::kCuda, o),
               Error);
}

std::string write_dataset(comm::Communicator& comm) {
  std::string path;
  if (comm.rank() == 0) {
    path = (std::filesystem::temp_directory_path() /
            ("lockstep_lean_" + std::to_string(getpid()) + ".h5"))
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

// The last rank sees signal 10 from poll `from` on (polls follow steps
// 0, 1, ...); every rank must stop after the same step.
int64_t stop_step(comm::MpiCommunicator& comm, const ShardedData& data, int from) {
  TrainOptions o = plain_options();
  o.epochs = 3;
  int polls = 0;
  o.stop_signal = [&] { return polls++ >= from && comm.rank() == comm.size() - 1 ? 10 : 0; };
  Replica r(comm, "dense(8), relu, dense(3)", kFeatures, Device::kCpu, o);
  const std::vector<EpochRecord> records = r.trainer.fit(data, nullptr, nullptr);
  EXPECT_EQ(r.trainer.stopped_by_signal(), 10);
  EXPECT_FALSE(r.trainer.step_pending());
  const std::vector<uint64_t> mine{static_cast<uint64_t>(r.trainer.global_step())};
  std::vector<uint64_t> all(static_cast<size_t>(comm.size()));
  comm.allgather(mine, all);
  for (int k = 1; k < comm.size(); ++k)
    EXPECT_EQ(all[static_cast<size_t>(k)], all[0]) << "rank " << k;
  return r.trainer.global_step();
}

TEST(StopSignal, EveryRankStopsAfterTheSameStep) {
  comm::MpiCommunicator comm;
  const std::string path = write_dataset(comm);
  {
    ShardedData data(DataOptions{{path, "/features", "/labels"}, {}}, comm);
    const int64_t steps = kRowsPerRank / kBatch;  // per epoch
    // Inside an epoch: seen after step 3 (4 done), agreed after the next.
    EXPECT_EQ(stop_step(comm, data, 3), 5);
    // At an epoch's last step the agreement is immediate.
    EXPECT_EQ(stop_step(comm, data, static_cast<int>(steps) - 1), steps);
  }
  comm.barrier();
  if (comm.rank() == 0) std::filesystem::remove(path);
}

}  // namespace
}  // namespace lockstep::trainer
