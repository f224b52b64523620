// The device-side step decisions (core/ops/optim.hpp, "Note: the step
// control block") and the loss totals (ops::loss_totals) against hand-worked
// values and the host code they replaced: the norm, the skip flag, the
// clipping factor and Adam's bias corrections; the fused SGD and Adam passes
// with clipping and skipping; the conditional BatchNorm restore; the
// asynchronous transfers (CPU: immediate). The CUDA suites compare every one
// with the CPU reference and skip without a GPU.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/loss.hpp"
#include "core/ops/elementwise.hpp"
#include "core/ops/loss.hpp"
#include "core/ops/optim.hpp"
#include "core/optimizer.hpp"
#include "core/transfer.hpp"
#include "tests/core/cuda_test_util.hpp"

namespace lockstep {
namespace {

using test::random_host;
using test::to_gpu;
using test::to_host;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor scalar(double v, Device d = Device::kCpu) {
  Tensor h = Tensor::empty({1}, DType::kF64);
  h.data<double>()[0] = v;
  if (d == Device::kCpu) return h;
  return to_gpu(h);
}

Tensor control_block(double lr, double clip, double steps = 0) {
  Tensor c = Tensor::zeros({ops::kStepSlots}, DType::kF64);
  c.data<double>()[ops::kSlotLr] = lr;
  c.data<double>()[ops::kSlotClipNorm] = clip;
  c.data<double>()[ops::kSlotSteps] = steps;
  return c;
}

TEST(StepControl, DecidesAsTheHostDid) {
  // The host's old rule: norm = sqrt(ss); skip when not finite; clip to
  // clip_norm / norm when above.
  for (const double ss : {0.0, 1e-30, 0.25, 16.0, 1e300, 1e308 * 10, kInf, kNan, -kNan}) {
    for (const double clip : {0.0, 1.0, 5.0}) {
      Tensor c = control_block(0.1, clip, 3);
      ops::prepare_step(scalar(ss), c, 0.9, 0.999);
      const double* v = c.data<double>();
      const double norm = std::sqrt(ss);
      const bool skip = !std::isfinite(norm);
      EXPECT_EQ(v[ops::kSlotSkipped] != 0, skip) << "ss " << ss;
      if (!skip) {
        EXPECT_EQ(v[ops::kSlotNorm], norm);
        EXPECT_EQ(v[ops::kSlotScale], clip > 0 && norm > clip ? clip / norm : 1.0);
        EXPECT_EQ(v[ops::kSlotSteps], 4);
        EXPECT_EQ(v[ops::kSlotBias1], 1.0 - std::pow(0.9, 4.0));
        EXPECT_EQ(v[ops::kSlotBias2], 1.0 - std::pow(0.999, 4.0));
      } else {
        EXPECT_EQ(v[ops::kSlotSteps], 3) << "a skipped step is not counted";
      }
    }
  }
}

TEST(StepControl, FloatSumOfSquaresToo) {
  Tensor ss = Tensor::empty({1}, DType::kF32);
  ss.data<float>()[0] = 9.0f;
  Tensor c = control_block(0.1, 1.5);
  ops::prepare_step(ss, c, 0, 0);
  EXPECT_EQ(c.data<double>()[ops::kSlotNorm], 3.0);
  EXPECT_EQ(c.data<double>()[ops::kSlotScale], 0.5);
}

// The old path: ops::scale(grads, clip / norm), then the plain pass.
TEST(FusedSgd, ClipsAsScalingTheGradientsFirst) {
  const Tensor w0 = random_host({37}, 1), g = random_host({37}, 2, 3.0f);
  const double ss = ops::sum_squares(g);
  const double clip = std::sqrt(ss) / 3;
  for (const bool nesterov : {false, true}) {
    Tensor w = Tensor::empty({37}, DType::kF32), v = Tensor::zeros({37}, DType::kF32);
    w.copy_from(w0);
    Tensor c = control_block(0.1, clip);
    ops::prepare_step(scalar(ss), c, 0, 0);
    ops::sgd_step(w, g, v, c, 0.9, 0.01, nesterov);

    Tensor gs = Tensor::empty({37}, DType::kF32);
    gs.copy_from(g);
    ops::scale(gs, clip / std::sqrt(ss));
    for (int64_t i = 0; i < 37; ++i) {
      const float gi = gs.data<float>()[i] + 0.01f * w0.data<float>()[i];
      const float vi = gi;  // v was 0
      const float want = w0.data<float>()[i] - 0.1f * (nesterov ? gi + 0.9f * vi : vi);
      ASSERT_EQ(w.data<float>()[i], want) << i;
      ASSERT_EQ(v.data<float>()[i], vi) << i;
    }
  }
}

TEST(FusedSgd, SkipsANonFiniteStep) {
  Tensor w = random_host({9}, 3), g = random_host({9}, 4), v = random_host({9}, 5);
  const Tensor w0 = to_host(w), v0 = to_host(v);
  Tensor c = control_block(0.1, 1.0);
  ops::prepare_step(scalar(kInf), c, 0, 0);
  ops::sgd_step(w, g, v, c, 0.9, 0.01, false);
  for (int64_t i = 0; i < 9; ++i) {
    EXPECT_EQ(w.data<float>()[i], w0.data<float>()[i]);
    EXPECT_EQ(v.data<float>()[i], v0.data<float>()[i]);
  }
}

// Adam through the Optimizer: a skipped step changes neither the moments
// nor the step count, and the next step's bias correction is t = 1.
TEST(FusedAdam, SkipThenStepCountsOnlyTheUpdate) {
  Tensor w = random_host({16}, 6);
  const Tensor g = random_host({16}, 7);
  Adam adam(w, AdamOptions{0.9, 0.999, 1e-8, 0.01, true});
  const Tensor w0 = to_host(w);
  adam.step(w, g, scalar(kNan), 0.1, 0.0);
  EXPECT_EQ(adam.steps(), 0);
  EXPECT_NE(adam.control().data<double>()[ops::kSlotSkipped], 0);
  for (int64_t i = 0; i < 16; ++i) ASSERT_EQ(w.data<float>()[i], w0.data<float>()[i]);
  for (auto& [name, slab] : adam.state())
    for (int64_t i = 0; i < 16; ++i) ASSERT_EQ(slab.data<float>()[i], 0.0f) << name;

  // The same step as a fresh optimizer's first plain step.
  Tensor w2 = to_host(w0);
  Adam ref(w2, AdamOptions{0.9, 0.999, 1e-8, 0.01, true});
  ref.step(w2, g, 0.1);
  adam.step(w, g, scalar(ops::sum_squares(g)), 0.1, 0.0);
  EXPECT_EQ(adam.steps(), 1);
  for (int64_t i = 0; i < 16; ++i) ASSERT_EQ(w.data<float>()[i], w2.data<float>()[i]);
}

TEST(FusedAdam, ClipsAsScalingTheGradientsFirst) {
  const Tensor w0 = random_host({21}, 8), g = random_host({21}, 9, 4.0f);
  const double ss = ops::sum_squares(g), clip = std::sqrt(ss) / 5;
  Tensor w = to_host(w0);
  Adam clipped(w, AdamOptions{});
  clipped.step(w, g, scalar(ss), 0.01, clip);

  Tensor gs = to_host(g);
  ops::scale(gs, clip / std::sqrt(ss));
  Tensor w2 = to_host(w0);
  Adam plain(w2, AdamOptions{});
  plain.step(w2, gs, 0.01);
  for (int64_t i = 0; i < 21; ++i) ASSERT_EQ(w.data<float>()[i], w2.data<float>()[i]) << i;
}

TEST(StepControl, RestoresAndPoisonsOnlyWhenAsked) {
  const Tensor saved = random_host({5}, 10);
  Tensor live = random_host({5}, 11);
  const Tensor live0 = to_host(live);
  Tensor c = control_block(0.1, 0);
  ops::prepare_step(scalar(4.0), c, 0, 0);
  ops::restore_if_skipped(live, saved, c);
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(live.data<float>()[i], live0.data<float>()[i]);
  ops::prepare_step(scalar(kNan), c, 0, 0);
  ops::restore_if_skipped(live, saved, c);
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(live.data<float>()[i], saved.data<float>()[i]);

  Tensor totals = Tensor::zeros({ops::kLossTotals}, DType::kF64);
  totals.data<double>()[ops::kTotalLoss] = 3.5;
  ops::poison_if_nonfinite(live, totals, ops::kTotalLoss);
  EXPECT_FALSE(std::isnan(live.data<float>()[0]));
  totals.data<double>()[ops::kTotalLoss] = kInf;
  ops::poison_if_nonfinite(live, totals, ops::kTotalLoss);
  EXPECT_TRUE(std::isnan(live.data<float>()[0]));
}

TEST(LossTotals, AddUpAndNameTheFirstBadRow) {
  Tensor loss = Tensor::empty({4}, DType::kF64);
  Tensor hits = Tensor::empty({4}, DType::kI32);
  const double l[] = {0.5, 1.25, 2.0, 0.25};
  const int32_t h[] = {1, 0, 1, 1};
  for (int i = 0; i < 4; ++i) {
    loss.data<double>()[i] = l[i];
    hits.data<int32_t>()[i] = h[i];
  }
  Tensor totals = Tensor::zeros({ops::kLossTotals}, DType::kF64);
  ops::loss_totals(loss, hits, 2.0, 0, totals);
  ops::loss_totals(loss, hits, 1.0, 4, totals);  // a second micro-batch adds
  EXPECT_EQ(totals.data<double>()[ops::kTotalLoss], 8.0 + 4.0);
  EXPECT_EQ(totals.data<double>()[ops::kTotalCorrect], 6.0);
  EXPECT_EQ(totals.data<double>()[ops::kTotalBadRow], 0.0);
  hits.data<int32_t>()[2] = -1;
  hits.data<int32_t>()[3] = -1;
  ops::loss_totals(loss, hits, 1.0, 8, totals);
  EXPECT_EQ(totals.data<double>()[ops::kTotalBadRow], 1.0 + 8 + 2);

  Loss ce(LossKind::kCrossEntropy);
  Tensor z = random_host({4, 3}, 12), y = Tensor::empty({4}, DType::kI32);
  for (int i = 0; i < 4; ++i) y.data<int32_t>()[i] = i % 3;
  // The step's form gives compute()'s sums.
  const LossSums once = ce.compute(z, y, 4, nullptr);
  Tensor t = Tensor::zeros({ops::kLossTotals}, DType::kF64);
  ce.accumulate(z, y, 4, nullptr, t);
  const LossSums got = ce.check_totals(t.data<double>(), 4);
  EXPECT_EQ(got.loss, once.loss);
  EXPECT_EQ(got.correct, once.correct);
  t.data<double>()[ops::kTotalBadRow] = 3;
  try {
    ce.check_totals(t.data<double>(), 4);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch row 2 is outside the model's 3 classes"),
              std::string::npos)
        << e.what();
  }
}

TEST(Transfer, HostTensorsMoveAtOnce) {
  Tensor dst = Tensor::zeros({4}, DType::kF64);
  Upload up;
  const double v[] = {1.5, -2.0};
  up.send(v, dst);
  EXPECT_EQ(dst.data<double>()[0], 1.5);
  EXPECT_EQ(dst.data<double>()[1], -2.0);
  Readback back;
  back.start(dst);
  EXPECT_TRUE(back.ready());
  dst.data<double>()[0] = 7;  // the read-back holds the values at start()
  EXPECT_EQ(back.wait().data<double>()[0], 1.5);
  EXPECT_EQ(back.blocking_waits(), 0);
  EXPECT_TRUE(stream_idle());
}

// ---- CUDA against the CPU reference (skips without a GPU) ----

class CudaStepControl : public test::CudaTest {};

TEST_F(CudaStepControl, FusedPassesMatchTheReference) {
  const int64_t n = 100003;
  const Tensor w0 = random_host({n}, 20), g = random_host({n}, 21, 2.0f);
  Tensor ss_cpu = Tensor::empty({1}, DType::kF64), scratch_cpu;
  ops::sum_squares(g, ss_cpu, scratch_cpu);
  const Tensor gd = to_gpu(g);
  Tensor ss_gpu = Tensor::empty({1}, DType::kF64, Device::kCuda), scratch;
  ops::sum_squares(gd, ss_gpu, scratch);
  const double ss = ss_cpu.data<double>()[0];
  EXPECT_NEAR(to_host(ss_gpu).data<double>()[0], ss, 1e-9 * ss);
  const double clip = std::sqrt(ss) / 2;
  for (int opt = 0; opt < 3; ++opt) {
    Tensor wc = to_host(w0), wg = to_gpu(w0);
    std::unique_ptr<Optimizer> a, b;
    if (opt == 0) {
      a = std::make_unique<Sgd>(wc, SgdOptions{0.9, true, 1e-3});
      b = std::make_unique<Sgd>(wg, SgdOptions{0.9, true, 1e-3});
    } else {
      a = std::make_unique<Adam>(wc, AdamOptions{0.9, 0.999, 1e-8, 1e-2, opt == 2});
      b = std::make_unique<Adam>(wg, AdamOptions{0.9, 0.999, 1e-8, 1e-2, opt == 2});
    }
    for (int s = 0; s < 3; ++s) {
      // Step 1 is non-finite: skipped on both.
      a->step(wc, g, s == 1 ? scalar(kNan) : ss_cpu, 1e-2, clip);
      b->step(wg, gd, s == 1 ? scalar(kNan, Device::kCuda) : ss_gpu, 1e-2, clip);
    }
    EXPECT_EQ(a->steps(), 2);
    EXPECT_EQ(b->steps(), 2);
    const Tensor got = to_host(wg);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(got.data<float>()[i], wc.data<float>()[i],
                  1e-6 + 1e-5 * std::abs(wc.data<float>()[i]))
          << "optimizer " << opt << " element " << i;
  }
}

TEST_F(CudaStepControl, LossTotalsMatchTheReference) {
  const int64_t n = 1000, k = 7;
  const Tensor z = random_host({n, k}, 30, 3.0f);
  Tensor y = Tensor::empty({n}, DType::kI32);
  for (int64_t i = 0; i < n; ++i) y.data<int32_t>()[i] = static_cast<int32_t>((i * 5) % k);
  Loss a(LossKind::kCrossEntropy), b(LossKind::kCrossEntropy);
  Tensor tc = Tensor::zeros({ops::kLossTotals}, DType::kF64);
  Tensor tg = Tensor::zeros({ops::kLossTotals}, DType::kF64, Device::kCuda);
  a.accumulate(z, y, n, nullptr, tc);
  b.accumulate(to_gpu(z), to_gpu(y), n, nullptr, tg);
  const Tensor h = to_host(tg);
  EXPECT_NEAR(h.data<double>()[ops::kTotalLoss], tc.data<double>()[ops::kTotalLoss],
              1e-9 * tc.data<double>()[ops::kTotalLoss]);
  EXPECT_EQ(h.data<double>()[ops::kTotalCorrect], tc.data<double>()[ops::kTotalCorrect]);
  y.data<int32_t>()[700] = static_cast<int32_t>(k);  // out of range: recorded, not thrown
  tg.zero();
  b.accumulate(to_gpu(z), to_gpu(y), n, nullptr, tg);
  EXPECT_EQ(to_host(tg).data<double>()[ops::kTotalBadRow], 701.0);
}

TEST_F(CudaStepControl, ReadbackAndUploadAreOrdered) {
  Tensor d = Tensor::zeros({4}, DType::kF64, Device::kCuda);
  Upload up;
  Readback back;
  for (int i = 0; i < 10; ++i) {
    const double v[] = {static_cast<double>(i), 2.0 * i};
    up.send(v, d);
    back.start(d);
    const Tensor& h = back.wait();
    ASSERT_EQ(h.data<double>()[0], i);
    ASSERT_EQ(h.data<double>()[1], 2.0 * i);
  }
}

}  // namespace
}  // namespace lockstep
