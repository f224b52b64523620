// Segmentation with data parallelism: P ranks training a small U-Net (concat
// skips, per-pixel cross-entropy with ignored pixels and class weights) on
// per-rank batches b end with the same parameters as one process trained on
// the concatenated global batches P*b. The ignored pixels differ between
// ranks, so this needs the mean over the counted pixels of the *global* batch
// (core/loss.hpp, "Note: per-pixel cross-entropy"). Batches are built here as
// tensors: sample i of the global stream is a function of i alone. Runs on 1,
// 2 and 4 ranks.

#include <gtest/gtest.h>

#include <cmath>

#include "comm/mpi.hpp"
#include "core/rng.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::trainer {
namespace {

constexpr int64_t kSide = 8, kClasses = 3, kIgnore = 255;
constexpr int64_t kBatch = 2;  // per rank
constexpr int64_t kSteps = 30;
const char* kUnet =
    "conv2d(4, 3, padding=1) @enc1, relu, maxpool2d(2), conv2d(8, 3, padding=1), relu, "
    "conv_transpose2d(4, 2), concat(@enc1), conv2d(4, 3, padding=1) @dec, relu, add(@dec), "
    "conv2d(3, 1)";

// Samples [first, first + n) of the global stream: x (n, 1, 8, 8), labels
// (n, 8, 8): the class of a smoothed value, a random ~15% of pixels ignored.
void make_batch(int64_t first, int64_t n, Tensor& x, Tensor& y) {
  x = Tensor::empty({n, 1, kSide, kSide}, DType::kF32);
  y = Tensor::empty({n, kSide, kSide}, DType::kI32);
  for (int64_t s = 0; s < n; ++s) {
    Rng rng(hash_keys({77, static_cast<uint64_t>(first + s)}));
    float* px = x.data<float>() + s * kSide * kSide;
    int32_t* py = y.data<int32_t>() + s * kSide * kSide;
    for (int64_t i = 0; i < kSide * kSide; ++i) px[i] = static_cast<float>(rng.normal());
    for (int64_t r = 0; r < kSide; ++r)
      for (int64_t c = 0; c < kSide; ++c) {
        const float v = px[r * kSide + c] + 0.5f * px[r * kSide + (c + 1) % kSide];
        py[r * kSide + c] = rng.uniform() < 0.15 ? kIgnore : (v < -0.6f ? 0 : (v < 0.6f ? 1 : 2));
      }
  }
}

struct Replica {
  Model model;
  Sgd sgd;
  Trainer trainer;
  Replica(comm::Communicator& comm, int64_t batch)
      : model(kUnet, {1, kSide, kSide}),
        sgd((model.init_params(11, InitScheme::kHe), model.params()), {0.9, true, 1e-3}),
        trainer(comm, model, Loss(LossKind::kCrossEntropy, {kIgnore, {1.0, 2.0, 0.5}}), sgd,
                LrSchedule({ScheduleKind::kConstant, 0.05, kSteps, 0, 0.0, 1, 0.1}),
                TrainOptions{1, batch, 64, 3, true, 1000, "off", 256, 0.0, {}}) {}
};

std::vector<float> params_of(Model& m) {
  return {m.params().data<float>(), m.params().data<float>() + m.params().numel()};
}

TEST(SegEquivalence, UnetRanksMatchOneProcessOnTheConcatenatedGlobalBatch) {
  comm::MpiCommunicator world;
  const int p = world.size();
  Replica dist(world, kBatch);
  dist.trainer.broadcast_parameters();
  Tensor x, y;
  double first_loss = 0, last_loss = 0;
  for (int64_t s = 0; s < kSteps; ++s) {
    make_batch((s * p + world.rank()) * kBatch, kBatch, x, y);
    const LossSums sums = dist.trainer.step(x, y);
    std::vector<double> l{sums.loss};
    world.allreduce(std::span<double>(l), comm::ReduceOp::kSum);
    if (s < 5) first_loss += l[0];
    if (s >= kSteps - 5) last_loss += l[0];
  }
  EXPECT_LT(last_loss, first_loss) << "the U-Net learns (loss of the first and last 5 steps)";
  std::vector<float> mine = params_of(dist.model), root = mine;
  world.broadcast(std::span<float>(root), 0);
  EXPECT_EQ(mine, root) << "replicas diverged";
  if (world.rank() == 0) {
    comm::MpiCommunicator self(MPI_COMM_SELF);
    Replica ref(self, kBatch * p);
    for (int64_t s = 0; s < kSteps; ++s) {
      make_batch(s * p * kBatch, p * kBatch, x, y);
      ref.trainer.step(x, y);
    }
    const std::vector<float> a = params_of(dist.model), b = params_of(ref.model);
    double diff = 0, norm = 0, max_rel = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      diff += (a[i] - b[i]) * (a[i] - b[i]);
      norm += b[i] * b[i];
      max_rel = std::max(max_rel, std::abs(static_cast<double>(a[i] - b[i])) /
                                      (std::abs(static_cast<double>(b[i])) + 1e-3));
    }
    const double rel = std::sqrt(diff / norm);
    std::printf("[ info ] %d ranks vs 1 process: relative L2 difference %.3g, max %.3g\n", p, rel,
                max_rel);
    EXPECT_LT(rel, 1e-4);  // max pooling: see equivalence_test.cpp, MaxPoolCnn
    EXPECT_LT(max_rel, 1e-2);
    if (p == 1) {
      EXPECT_EQ(rel, 0.0) << "one rank must match exactly";
    }
  }
  world.barrier();
}

}  // namespace
}  // namespace lockstep::trainer
