// Known-answer tests for tensors, ops, optimizers, schedules, the layer-spec
// parser and the RNG.

#include <gtest/gtest.h>

#include <cmath>

#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/ops/dense.hpp"
#include "core/ops/optim.hpp"
#include "core/optimizer.hpp"
#include "core/rng.hpp"
#include "core/schedule.hpp"

namespace lockstep {
namespace {

Tensor from(const Shape& s, std::vector<float> v) {
  Tensor t = Tensor::empty(s, DType::kF32);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

TEST(Tensor, ViewsShareTheBuffer) {
  Tensor t = Tensor::zeros({4, 3}, DType::kF32);
  Tensor r = t.rows(1, 3);
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  r.data<float>()[0] = 5.0f;
  EXPECT_EQ(t.data<float>()[3], 5.0f);
  EXPECT_THROW(t.view(10, {3}), Error);
  EXPECT_THROW(t.data<double>(), Error);
}

TEST(Ops, GemmKnownAnswer) {
  Tensor a = from({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = from({2, 3}, {1, 0, 1, 0, 1, 0});
  Tensor c = Tensor::zeros({2, 2}, DType::kF32);
  ops::gemm(false, true, 1.0, a, b, 0.0, c);  // a b^T
  EXPECT_EQ(c.data<float>()[0], 4.0f);
  EXPECT_EQ(c.data<float>()[1], 2.0f);
  EXPECT_EQ(c.data<float>()[2], 10.0f);
  EXPECT_EQ(c.data<float>()[3], 5.0f);
  Tensor bad = Tensor::zeros({3, 3}, DType::kF32);
  EXPECT_THROW(ops::gemm(false, false, 1.0, a, a, 0.0, bad), Error);
}

TEST(Ops, CrossEntropyOfUniformLogitsIsLogK) {
  Tensor z = Tensor::zeros({2, 4}, DType::kF32);
  Tensor y = Tensor::empty({2}, DType::kI32);
  y.data<int32_t>()[0] = 1;
  y.data<int32_t>()[1] = 3;
  Loss loss(LossKind::kCrossEntropy);
  const LossSums s = loss.compute(z, y, 2, nullptr);
  EXPECT_NEAR(s.loss, 2 * std::log(4.0), 1e-6);
  y.data<int32_t>()[1] = 4;
  EXPECT_THROW(loss.compute(z, y, 2, nullptr), Error);
}

// Logits (1, 2, 3, 4): log-sum-exp = 4 + log(1 + e^-1 + e^-2 + e^-3) = 4.4401896986,
// softmax p = (0.0320586033, 0.0871443187, 0.2368828181, 0.6439142599).
// Row 0 has label 0 (the smallest logit): loss 4.4401896986 - 1 = 3.4401896986,
// a miss. Row 1 holds the same logits permuted to (4, 1, 2, 3) with label 0
// (the largest): loss 4.4401896986 - 4 = 0.4401896986, a hit. The gradient
// of the mean over the 2 rows is (p - onehot(label)) / 2.
TEST(Ops, CrossEntropyKnownAnswerWhereTheLabelMatters) {
  Tensor z = from({2, 4}, {1, 2, 3, 4, 4, 1, 2, 3});
  Tensor y = Tensor::empty({2}, DType::kI32);
  y.data<int32_t>()[0] = 0;
  y.data<int32_t>()[1] = 0;
  Tensor dz = Tensor::zeros({2, 4}, DType::kF32);
  Loss loss(LossKind::kCrossEntropy);
  const LossSums s = loss.compute(z, y, 2, &dz);
  EXPECT_NEAR(loss.row_losses().data<double>()[0], 3.4401896986, 1e-6);
  EXPECT_NEAR(loss.row_losses().data<double>()[1], 0.4401896986, 1e-6);
  EXPECT_NEAR(s.loss, 3.8803793971, 2e-6);
  EXPECT_EQ(s.correct, 1);
  const double p[4] = {0.0320586033, 0.0871443187, 0.2368828181, 0.6439142599};
  const double expected[8] = {(p[0] - 1) / 2, p[1] / 2, p[2] / 2, p[3] / 2,
                              (p[3] - 1) / 2, p[0] / 2, p[1] / 2, p[2] / 2};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(dz.data<float>()[i], expected[i], 1e-6) << i;
  // Another label changes the loss by the difference of the logits.
  y.data<int32_t>()[0] = 2;
  EXPECT_NEAR(loss.compute(z, y, 2, nullptr).loss, 3.8803793971 - 2, 2e-6);
}

TEST(Optimizer, SgdMomentumNesterovWeightDecay) {
  Tensor w = from({2}, {1.0f, -2.0f});
  Tensor g = from({2}, {0.5f, 0.25f});
  Sgd sgd(w, {0.9, false, 0.0});
  sgd.step(w, g, 0.1);  // v = g; w -= 0.1 g
  EXPECT_FLOAT_EQ(w.data<float>()[0], 0.95f);
  sgd.step(w, g, 0.1);  // v = 0.9*0.5 + 0.5 = 0.95
  EXPECT_FLOAT_EQ(w.data<float>()[0], 0.95f - 0.095f);

  Tensor w2 = from({1}, {1.0f});
  Tensor g2 = from({1}, {0.0f});
  Sgd decay(w2, {0.0, false, 0.1});
  decay.step(w2, g2, 1.0);  // g = 0.1 * 1
  EXPECT_FLOAT_EQ(w2.data<float>()[0], 0.9f);

  Tensor w3 = from({1}, {0.0f});
  Tensor g3 = from({1}, {1.0f});
  Sgd nesterov(w3, {0.5, true, 0.0});
  nesterov.step(w3, g3, 1.0);  // v = 1; w -= g + 0.5 v = 1.5
  EXPECT_FLOAT_EQ(w3.data<float>()[0], -1.5f);
  EXPECT_THROW(Sgd(w3, {1.5, false, 0.0}), Error);
}

TEST(Optimizer, AdamAndAdamWKnownValues) {
  // First step of Adam moves every weight by lr * sign(g) (bias correction).
  Tensor w = from({2}, {1.0f, -1.0f});
  Tensor g = from({2}, {0.5f, -0.01f});
  Adam adam(w, {0.9, 0.999, 1e-8, 0.0, false});
  adam.step(w, g, 0.1);
  EXPECT_NEAR(w.data<float>()[0], 0.9f, 1e-6);
  EXPECT_NEAR(w.data<float>()[1], -0.9f, 1e-5);
  EXPECT_EQ(adam.steps(), 1);
  // Second step, by hand: m = 0.9*0.05+0.1*0.5 ... for g constant, mhat = g, vhat = g^2.
  adam.step(w, g, 0.1);
  EXPECT_NEAR(w.data<float>()[0], 0.8f, 1e-5);
  // AdamW decays the weight directly: with g = 0, w -= lr * wd * w.
  Tensor w2 = from({1}, {2.0f});
  Tensor g2 = from({1}, {0.0f});
  Adam adamw(w2, {0.9, 0.999, 1e-8, 0.5, true});
  adamw.step(w2, g2, 0.1);
  EXPECT_NEAR(w2.data<float>()[0], 2.0f * (1 - 0.05f), 1e-6);
  // Adam with L2 decay puts it into the gradient: the first step is lr * sign.
  Tensor w3 = from({1}, {2.0f});
  Adam adam_l2(w3, {0.9, 0.999, 1e-8, 0.5, false});
  adam_l2.step(w3, g2, 0.1);
  EXPECT_NEAR(w3.data<float>()[0], 1.9f, 1e-6);
}

// With g = 0 above, AdamW and Adam+L2 both give 1.9, so a gradient is needed to
// tell them apart. w = 2, g = 1, weight decay 0.5, lr 0.1:
// - AdamW: w -= lr * wd * w = 0.1 -> 1.9; then m = 0.1 g, v = 0.001 g^2, so
//   mhat = 1, vhat = 1 and w -= 0.1 * 1 / (1 + 1e-8) -> 1.8. A second step
//   (g = 1 again): w = 1.8 - 0.05 * 1.8 = 1.71, mhat = vhat = 1 -> 1.61.
// - Adam + L2: g' = g + wd * w = 2; mhat = 2, vhat = 4, w -= 0.1 * 2 / 2 -> 1.9.
//   A second step: g' = 1 + 0.5 * 1.9 = 1.95, m = 0.9 * 0.2 + 0.1 * 1.95 =
//   0.375, mhat = 0.375 / 0.19; v = 0.999 * 0.004 + 0.001 * 1.95^2 = 0.0077985,
//   vhat = 0.0077985 / 0.001999; w -= 0.1 * mhat / sqrt(vhat) -> 1.80007400.
TEST(Optimizer, MadeByName) {
  const Tensor w = Tensor::zeros({3}, DType::kF32);
  EXPECT_EQ(make_optimizer("sgd", {0.9, true, 0.0}, {}, w)->name(), "sgd");
  EXPECT_EQ(make_optimizer("adam", {}, {}, w)->name(), "adam");
  EXPECT_EQ(make_optimizer("adamw", {}, {}, w)->name(), "adamw");
  try {
    make_optimizer("lion", {}, {}, w);
    ADD_FAILURE() << "an unknown optimizer was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optim.name: expected sgd, adam or adamw, got 'lion'"),
              std::string::npos)
        << e.what();
  }
}

TEST(Optimizer, AdamWAndAdamWithL2DifferWhenTheGradientIsNotZero) {
  Tensor g = from({1}, {1.0f});
  Tensor w = from({1}, {2.0f});
  Adam adamw(w, {0.9, 0.999, 1e-8, 0.5, true});
  adamw.step(w, g, 0.1);
  EXPECT_NEAR(w.data<float>()[0], 1.8f, 1e-6);
  adamw.step(w, g, 0.1);
  EXPECT_NEAR(w.data<float>()[0], 1.61f, 1e-6);
  Tensor w2 = from({1}, {2.0f});
  Adam adam_l2(w2, {0.9, 0.999, 1e-8, 0.5, false});
  adam_l2.step(w2, g, 0.1);
  EXPECT_NEAR(w2.data<float>()[0], 1.9f, 1e-6);
  adam_l2.step(w2, g, 0.1);
  EXPECT_NEAR(w2.data<float>()[0], 1.800074f, 1e-6);
}

TEST(Ops, SumSquares) {
  Tensor x = from({3}, {1.0f, -2.0f, 2.0f});
  EXPECT_DOUBLE_EQ(ops::sum_squares(x), 9.0);
}

TEST(Schedule, Exponential) {
  LrSchedule e({ScheduleKind::kExponential, 1.0, 100, 0, 0.0, 10, 0.5});
  EXPECT_DOUBLE_EQ(e.lr_at(0), 1.0);
  EXPECT_NEAR(e.lr_at(10), 0.5, 1e-12);
  EXPECT_NEAR(e.lr_at(5), std::sqrt(0.5), 1e-12);
}

TEST(Schedule, ConstantCosineStepWarmup) {
  LrSchedule constant({ScheduleKind::kConstant, 0.1, 100, 0, 0.0, 1, 0.1});
  EXPECT_DOUBLE_EQ(constant.lr_at(50), 0.1);
  LrSchedule cosine({ScheduleKind::kCosine, 0.1, 100, 0, 0.0, 1, 0.1});
  EXPECT_DOUBLE_EQ(cosine.lr_at(0), 0.1);
  EXPECT_NEAR(cosine.lr_at(50), 0.05, 1e-12);
  EXPECT_NEAR(cosine.lr_at(100), 0.0, 1e-12);
  LrSchedule step({ScheduleKind::kStep, 1.0, 100, 0, 0.0, 10, 0.5});
  EXPECT_DOUBLE_EQ(step.lr_at(9), 1.0);
  EXPECT_DOUBLE_EQ(step.lr_at(10), 0.5);
  LrSchedule warm({ScheduleKind::kConstant, 1.0, 100, 4, 0.0, 1, 0.1});
  EXPECT_DOUBLE_EQ(warm.lr_at(0), 0.25);
  EXPECT_DOUBLE_EQ(warm.lr_at(3), 1.0);
}

TEST(LayerSpec, ParsesAndRoundTrips) {
  Model m("dense(256), relu, dropout(0.2), dense(128), tanh, dense(10)", {1, 28, 28});
  EXPECT_EQ(m.spec(), "dense(256), relu, dropout(0.2), dense(128), tanh, dense(10)");
  EXPECT_EQ(m.output_shape(), (Shape{10}));
  EXPECT_EQ(m.num_params(), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  EXPECT_EQ(m.layout().front().name, "0.weight");
  EXPECT_EQ(m.layout().front().shape, (Shape{256, 784}));
}

TEST(LayerSpec, ErrorsNameTheToken) {
  auto message = [](const std::string& spec) {
    try {
      Model m(spec, {4});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("dense(4), conv(3)").find("unknown layer 'conv(3)'"), std::string::npos);
  EXPECT_NE(message("dense(-4)").find("dense(-4)"), std::string::npos);
  EXPECT_NE(message("dropout(1.5)").find("[0, 1)"), std::string::npos);
  EXPECT_NE(message("dense(4),, relu").find("empty layer"), std::string::npos);
  EXPECT_NE(message("dense(4").find("unbalanced"), std::string::npos);
}

TEST(Rng, DeterministicAndBounded) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
  Rng c(1);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 7000; ++i) ++counts[c.below(7)];
  for (int n : counts) EXPECT_GT(n, 800);
  EXPECT_EQ(uniform_at(5, 9), uniform_at(5, 9));
  EXPECT_NE(uniform_at(5, 9), uniform_at(5, 10));
}

TEST(Model, InitIsSeededAndScaled) {
  Model a("dense(100), relu, dense(10)", {400});
  Model b("dense(100), relu, dense(10)", {400});
  a.init_params(3, InitScheme::kHe);
  b.init_params(3, InitScheme::kHe);
  double sq = 0;
  for (int64_t i = 0; i < 40000; ++i) {
    ASSERT_EQ(a.params().data<float>()[i], b.params().data<float>()[i]);
    sq += a.params().data<float>()[i] * a.params().data<float>()[i];
  }
  EXPECT_NEAR(std::sqrt(sq / 40000), std::sqrt(2.0 / 400), 0.005);  // He std
  EXPECT_EQ(a.params().data<float>()[40000], 0.0f);                 // bias
}

TEST(Dropout, EvalIsIdentityTrainKeepsExpectation) {
  Model m("dropout(0.5)", {10000});
  Tensor x = Tensor::empty({1, 10000}, DType::kF32);
  for (int i = 0; i < 10000; ++i) x.data<float>()[i] = 1.0f;
  Tensor e = m.forward(x, {Mode::kEval, 1});
  EXPECT_EQ(e.data<float>(), x.data<float>());
  Tensor t = m.forward(x, {Mode::kTrain, 1});
  double sum = 0;
  int zeros = 0;
  for (int i = 0; i < 10000; ++i) {
    sum += t.data<float>()[i];
    zeros += t.data<float>()[i] == 0.0f;
  }
  EXPECT_NEAR(sum / 10000, 1.0, 0.05);
  EXPECT_NEAR(zeros, 5000, 300);
}

}  // namespace
}  // namespace lockstep
