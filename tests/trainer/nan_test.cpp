// Non-finite steps (trainer "Note: non-finite steps"): a NaN or Inf in one
// rank's batch is seen by every rank after the gradient all-reduce, so all
// ranks skip the same step (train.on_nan = skip) with parameters, optimizer
// state (SGD's velocity; Adam's moments and step count) and BatchNorm
// statistics unchanged, or all stop with the same error
// (abort); a later finite step trains normally; too many skips in a row stop.
// Runs on 1 and 2 ranks; on 2 ranks only rank 1's batch is poisoned.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "comm/mpi.hpp"
#include "core/rng.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::trainer {
namespace {

constexpr int64_t kBatch = 8, kFeatures = 6;
const char* kLayers = "dense(12), batchnorm, relu, dense(3)";

std::vector<float> host(const Tensor& t) {
  Tensor h = Tensor::empty(t.shape(), t.dtype());
  h.copy_from(t);
  return {h.data<float>(), h.data<float>() + h.numel()};
}

enum class Opt { kSgd, kAdamW };

struct Replica {
  comm::MpiCommunicator comm;
  Model model{kLayers, {kFeatures}};
  std::unique_ptr<Optimizer> optimizer;
  Trainer trainer;
  Tensor x = Tensor::empty({kBatch, kFeatures}, DType::kF32);
  Tensor y = Tensor::empty({kBatch}, DType::kI32);

  explicit Replica(NanPolicy policy, int64_t max_skips = 10, Opt opt = Opt::kSgd)
      : optimizer(make_optimizer(model, opt)),
        trainer(comm, model, Loss(LossKind::kCrossEntropy), *optimizer,
                LrSchedule(ScheduleOptions{}), options(policy, max_skips)) {
    trainer.broadcast_parameters();
    Rng rng(static_cast<uint64_t>(17 + comm.rank()));
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(rng.normal());
    for (int64_t i = 0; i < kBatch; ++i) y.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
  }

  static std::unique_ptr<Optimizer> make_optimizer(Model& model, Opt opt) {
    model.init_params(3, InitScheme::kHe);
    if (opt == Opt::kAdamW)
      return std::make_unique<Adam>(model.params(), AdamOptions{0.9, 0.999, 1e-8, 0.01, true});
    return std::make_unique<Sgd>(model.params(), SgdOptions{0.9, false, 0.0});
  }

  // Every optimizer state slab, by name, and the step count.
  std::vector<std::pair<std::string, std::vector<float>>> state() const {
    std::vector<std::pair<std::string, std::vector<float>>> out;
    for (auto& [name, slab] : optimizer->state()) out.emplace_back(name, host(slab));
    return out;
  }

  static TrainOptions options(NanPolicy policy, int64_t max_skips) {
    TrainOptions o;
    o.batch_size = kBatch;
    o.progress = "off";
    o.on_nan = policy;
    o.max_nan_skips = max_skips;
    return o;
  }

  // The batch with `value` in one feature of the last rank's first row.
  Tensor poisoned(float value) const {
    Tensor p = Tensor::empty(x.shape(), DType::kF32);
    p.copy_from(x);
    if (comm.rank() == comm.size() - 1) p.data<float>()[2] = value;
    return p;
  }
};

// SGD with momentum (one state slab, "velocity") and AdamW (two moments,
// "exp_avg" and "exp_avg_sq", and the step count of its bias correction).
void check_skip_leaves_everything(Opt opt, size_t slabs) {
  Replica s(NanPolicy::kSkip, 10, opt);
  s.trainer.step(s.x, s.y);  // a normal step first: momentum and statistics non-zero
  ASSERT_FALSE(s.trainer.last_step_skipped());
  const auto params = host(s.model.params()), buffers = host(s.model.buffers());
  const auto state = s.state();
  ASSERT_EQ(state.size(), slabs);
  for (const auto& [name, slab] : state) {
    bool nonzero = false;
    for (float v : slab) nonzero = nonzero || v != 0.0f;
    ASSERT_TRUE(nonzero) << name << " is all zero after a step: the check would prove nothing";
  }
  ASSERT_EQ(s.optimizer->steps(), 1);
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(bad);
    s.trainer.step(s.poisoned(bad), s.y);
    EXPECT_TRUE(s.trainer.last_step_skipped());
    EXPECT_EQ(host(s.model.params()), params);
    EXPECT_EQ(host(s.model.buffers()), buffers);
    EXPECT_EQ(s.state(), state);
    EXPECT_EQ(s.optimizer->steps(), 1);
  }
  s.trainer.step(s.x, s.y);  // training goes on
  EXPECT_FALSE(s.trainer.last_step_skipped());
  EXPECT_NE(host(s.model.params()), params);
  EXPECT_NE(s.state(), state);
  EXPECT_EQ(s.optimizer->steps(), 2);
  for (float v : host(s.model.params())) ASSERT_TRUE(std::isfinite(v));
}

TEST(NonFinite, SkipLeavesEverythingAsItWasOnEveryRank) {
  check_skip_leaves_everything(Opt::kSgd, 1);
}

TEST(NonFinite, SkipLeavesAdamMomentsAndStepCountAsTheyWere) {
  check_skip_leaves_everything(Opt::kAdamW, 2);
}

TEST(NonFinite, AbortIsTheSameErrorOnEveryRank) {
  Replica s(NanPolicy::kAbort);
  try {
    s.trainer.step(s.poisoned(std::numeric_limits<float>::quiet_NaN()), s.y);
    FAIL() << "expected an error";
  } catch (const comm::CollectiveError& e) {
    EXPECT_EQ(e.exit_code(), kExitNonFinite);
    EXPECT_NE(std::string(e.what()).find("non-finite loss or gradients at step 0"),
              std::string::npos)
        << e.what();
  }
}

TEST(NonFinite, TooManySkipsInARowStop) {
  Replica s(NanPolicy::kSkip, 2);
  const Tensor bad = s.poisoned(std::numeric_limits<float>::quiet_NaN());
  s.trainer.step(bad, s.y);
  s.trainer.step(s.x, s.y);  // a good step resets the count
  s.trainer.step(bad, s.y);
  s.trainer.step(bad, s.y);
  try {
    s.trainer.step(bad, s.y);
    FAIL() << "expected an error after 3 skips in a row";
  } catch (const comm::CollectiveError& e) {
    EXPECT_EQ(e.exit_code(), kExitNonFinite);
    EXPECT_NE(std::string(e.what()).find("3 consecutive steps"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lockstep::trainer
