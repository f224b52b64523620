// Gradient clipping (optim.clip_norm): when the global gradient norm G (after
// the all-reduce) exceeds the limit c, the update is the unclipped one scaled
// by c / G; below the limit the update is untouched. Plain SGD (no momentum, no
// decay) makes the update -lr * g, so the clipped update is exactly the
// unclipped one times c / G. Runs on 1 and 2 ranks (each rank its own batch).

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "comm/mpi.hpp"
#include "core/rng.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::trainer {
namespace {

constexpr int64_t kBatch = 8, kFeatures = 6;
constexpr double kLr = 0.5;

std::vector<float> host(const Tensor& t) {
  Tensor h = Tensor::empty(t.shape(), t.dtype());
  h.copy_from(t);
  return {h.data<float>(), h.data<float>() + h.numel()};
}

struct Replica {
  comm::MpiCommunicator comm;
  Model model{"dense(12), relu, dense(3)", {kFeatures}};
  Sgd sgd;
  Trainer trainer;

  explicit Replica(double clip_norm)
      : sgd((model.init_params(5, InitScheme::kHe), model.params()), SgdOptions{0.0, false, 0.0}),
        trainer(comm, model, Loss(LossKind::kCrossEntropy), sgd,
                LrSchedule(ScheduleOptions{ScheduleKind::kConstant, kLr}), options(clip_norm)) {
    trainer.broadcast_parameters();
  }

  static TrainOptions options(double clip_norm) {
    TrainOptions o;
    o.batch_size = kBatch;
    o.progress = "off";
    o.clip_norm = clip_norm;
    return o;
  }
};

struct Batch {
  Tensor x = Tensor::empty({kBatch, kFeatures}, DType::kF32);
  Tensor y = Tensor::empty({kBatch}, DType::kI32);
  explicit Batch(int rank) {
    Rng rng(static_cast<uint64_t>(41 + rank));
    // Large inputs: a gradient norm well above the limits used below.
    for (int64_t i = 0; i < x.numel(); ++i)
      x.data<float>()[i] = static_cast<float>(4.0 * rng.normal());
    for (int64_t i = 0; i < kBatch; ++i)
      y.data<int32_t>()[i] = static_cast<int32_t>((i + rank) % 3);
  }
};

std::vector<double> update(const std::vector<float>& before, const std::vector<float>& after) {
  std::vector<double> d(before.size());
  for (size_t i = 0; i < d.size(); ++i)
    d[i] = static_cast<double>(after[i]) - static_cast<double>(before[i]);
  return d;
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e * e;
  return std::sqrt(s);
}

TEST(Clipping, ScalesTheUpdateToTheLimit) {
  Replica plain(0.0);
  const Batch b(plain.comm.rank());
  const auto p0 = host(plain.model.params());
  plain.trainer.step(b.x, b.y);
  const double g = plain.trainer.last_grad_norm();
  const auto unclipped = update(p0, host(plain.model.params()));
  ASSERT_GT(g, 0.1) << "the test needs a gradient to clip";
  EXPECT_NEAR(norm(unclipped), kLr * g, 1e-4 * kLr * g);

  const double limit = g / 4;
  Replica clipped(limit);
  ASSERT_EQ(host(clipped.model.params()), p0);
  clipped.trainer.step(b.x, b.y);
  EXPECT_DOUBLE_EQ(clipped.trainer.last_grad_norm(), g);  // reported before clipping
  const auto d = update(p0, host(clipped.model.params()));
  // The update is the unclipped one times limit / g = 1/4, of norm lr * limit.
  EXPECT_NEAR(norm(d), kLr * limit, 1e-4 * kLr * limit);
  for (size_t i = 0; i < d.size(); ++i)
    ASSERT_NEAR(d[i], unclipped[i] / 4, 2e-7 + 1e-4 * std::abs(unclipped[i])) << "parameter " << i;
}

TEST(Clipping, LeavesAnUpdateBelowTheLimitAlone) {
  Replica plain(0.0);
  const Batch b(plain.comm.rank());
  plain.trainer.step(b.x, b.y);
  const double g = plain.trainer.last_grad_norm();
  Replica loose(2 * g);
  loose.trainer.step(b.x, b.y);
  EXPECT_EQ(host(loose.model.params()), host(plain.model.params()));
}

}  // namespace
}  // namespace lockstep::trainer
