// Every CUDA op against its CPU reference on fresh random inputs, forward and
// backward (BatchNorm and the residual add included); whole-model training
// steps CPU vs GPU are in tests/trainer/cuda_step_test.cpp. Skips cleanly when
// no GPU is visible (as in CI); runs for real on the GPU machine.
//
// Tolerances (|gpu - cpu| <= atol + rtol * |cpu|): float32 kernels
// atol 1e-5, rtol 1e-4; TF32 GEMM (10-bit mantissa inputs) atol 1e-2, rtol 1e-2.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/device.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/ops/activation.hpp"
#include "core/ops/dense.hpp"
#include "core/ops/elementwise.hpp"
#include "core/ops/norm.hpp"
#include "core/ops/optim.hpp"
#include "core/optimizer.hpp"
#include "core/rng.hpp"
#include "tests/core/cuda_test_util.hpp"

namespace lockstep {
namespace {

using test::expect_close;
using test::random_host;
using test::to_gpu;
using test::to_host;
using Cuda = test::CudaTest;

constexpr double kAtol = 1e-5, kRtol = 1e-4;

TEST_F(Cuda, GemmAllTransposesFp32AndTf32) {
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      const int64_t m = 37, n = 53, k = 129;
      Tensor a = random_host(ta ? Shape{k, m} : Shape{m, k}, 1 + ta);
      Tensor b = random_host(tb ? Shape{n, k} : Shape{k, n}, 3 + tb);
      Tensor c = random_host({m, n}, 5);
      Tensor cd = to_gpu(c);
      ops::gemm(ta, tb, 0.5, a, b, 0.25, c);
      Tensor ad = to_gpu(a), bd = to_gpu(b);
      ops::gemm(ta, tb, 0.5, ad, bd, 0.25, cd);
      expect_close(c, cd, 1e-4, kRtol,
                   "gemm fp32 ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
    }
  }
  device::select(0, device::Precision::kTf32);
  Tensor a = random_host({64, 256}, 7), b = random_host({256, 32}, 8);
  Tensor c = Tensor::zeros({64, 32}, DType::kF32);
  Tensor cd = to_gpu(c), ad = to_gpu(a), bd = to_gpu(b);
  ops::gemm(false, false, 1.0, a, b, 0.0, c);
  ops::gemm(false, false, 1.0, ad, bd, 0.0, cd);
  expect_close(c, cd, 1e-2, 1e-2, "gemm tf32");
  device::select(0, device::Precision::kFp32);
}

TEST_F(Cuda, BiasAndColumnSums) {
  Tensor y = random_host({33, 70}, 1), b = random_host({70}, 2);
  Tensor yd = to_gpu(y), bd = to_gpu(b);
  ops::add_row_bias(y, b);
  ops::add_row_bias(yd, bd);
  expect_close(y, yd, kAtol, kRtol, "add_row_bias");
  Tensor db = random_host({70}, 3), dbd = to_gpu(db);
  ops::acc_column_sums(y, db);
  ops::acc_column_sums(yd, dbd);
  expect_close(db, dbd, 1e-4, kRtol, "acc_column_sums");
}

TEST_F(Cuda, ActivationsForwardAndBackward) {
  using Fwd = void (*)(const Tensor&, Tensor&);
  using Bwd = void (*)(const Tensor&, const Tensor&, Tensor&);
  const struct {
    const char* name;
    Fwd fwd;
    Bwd bwd;
    bool saves_input;
  } acts[] = {{"relu", ops::relu_forward, ops::relu_backward, true},
              {"sigmoid", ops::sigmoid_forward, ops::sigmoid_backward, false},
              {"tanh", ops::tanh_forward, ops::tanh_backward, false}};
  for (const auto& act : acts) {
    Tensor x = random_host({17, 301}, 11, 6.0f), dy = random_host({17, 301}, 12);
    Tensor y = Tensor::empty(x.shape(), DType::kF32), dx = Tensor::empty(x.shape(), DType::kF32);
    Tensor xd = to_gpu(x), dyd = to_gpu(dy);
    Tensor yd = Tensor::empty(x.shape(), DType::kF32, Device::kCuda);
    Tensor dxd = Tensor::empty(x.shape(), DType::kF32, Device::kCuda);
    act.fwd(x, y);
    act.fwd(xd, yd);
    expect_close(y, yd, kAtol, kRtol, std::string(act.name) + " forward");
    act.bwd(act.saves_input ? x : y, dy, dx);
    act.bwd(act.saves_input ? xd : yd, dyd, dxd);
    expect_close(dx, dxd, kAtol, kRtol, std::string(act.name) + " backward");
  }
}

TEST_F(Cuda, DropoutMaskIsBitIdentical) {
  Tensor x = random_host({9, 1000}, 21);
  Tensor m = Tensor::empty(x.shape(), DType::kF32), y = Tensor::empty(x.shape(), DType::kF32);
  Tensor xd = to_gpu(x);
  Tensor md = Tensor::empty(x.shape(), DType::kF32, Device::kCuda);
  Tensor yd = Tensor::empty(x.shape(), DType::kF32, Device::kCuda);
  ops::dropout_forward(x, 0.3, 777, m, y);
  ops::dropout_forward(xd, 0.3, 777, md, yd);
  expect_close(m, md, 0, 0, "dropout mask");
  expect_close(y, yd, 0, 0, "dropout output");
  Tensor dy = random_host(x.shape(), 22), dx = Tensor::empty(x.shape(), DType::kF32);
  Tensor dyd = to_gpu(dy), dxd = Tensor::empty(x.shape(), DType::kF32, Device::kCuda);
  ops::multiply(dy, m, dx);
  ops::multiply(dyd, md, dxd);
  expect_close(dx, dxd, 0, 0, "dropout backward");
}

TEST_F(Cuda, LossesAndGradients) {
  const int64_t n = 50, k = 13;
  Tensor z = random_host({n, k}, 31, 5.0f);
  Tensor labels = Tensor::empty({n}, DType::kI32);
  for (int64_t i = 0; i < n; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>((i * 7) % k);
  Loss cpu(LossKind::kCrossEntropy), gpu(LossKind::kCrossEntropy);
  Tensor dz = Tensor::empty(z.shape(), DType::kF32);
  Tensor dzd = Tensor::empty(z.shape(), DType::kF32, Device::kCuda);
  const LossSums a = cpu.compute(z, labels, 64, &dz);
  const LossSums b = gpu.compute(to_gpu(z), to_gpu(labels), 64, &dzd);
  EXPECT_NEAR(a.loss, b.loss, 1e-6 * std::abs(a.loss));
  EXPECT_EQ(a.correct, b.correct);
  expect_close(dz, dzd, 1e-7, kRtol, "cross-entropy gradient");
  labels.data<int32_t>()[3] = 99;
  EXPECT_THROW(gpu.compute(to_gpu(z), to_gpu(labels), 64, nullptr), Error);

  Tensor t = random_host({n, k}, 32);
  Loss mc(LossKind::kMse), mg(LossKind::kMse);
  const LossSums c = mc.compute(z, t, n, &dz);
  const LossSums d = mg.compute(to_gpu(z), to_gpu(t), n, &dzd);
  EXPECT_NEAR(c.loss, d.loss, 1e-6 * std::abs(c.loss));
  expect_close(dz, dzd, 1e-7, kRtol, "mse gradient");
}

TEST_F(Cuda, SgdStepAndScale) {
  for (bool nesterov : {false, true}) {
    Tensor w = random_host({10007}, 41), g = random_host({10007}, 42);
    Tensor wd = to_gpu(w), gd = to_gpu(g);
    Sgd a(w, {0.9, nesterov, 1e-3}), b(wd, {0.9, nesterov, 1e-3});
    for (int s = 0; s < 3; ++s) {
      a.step(w, g, 0.1);
      b.step(wd, gd, 0.1);
    }
    expect_close(w, wd, kAtol, kRtol, nesterov ? "sgd nesterov" : "sgd");
  }
  Tensor x = random_host({999}, 43), xd = to_gpu(x);
  ops::scale(x, -0.5);
  ops::scale(xd, -0.5);
  expect_close(x, xd, 0, 0, "scale");
  EXPECT_NEAR(ops::sum_squares(x), ops::sum_squares(xd), 1e-9 * ops::sum_squares(x));
  for (bool decoupled : {false, true}) {
    Tensor w = random_host({5003}, 44), g = random_host({5003}, 45);
    Tensor wd = to_gpu(w), gd = to_gpu(g);
    Adam a(w, {0.9, 0.999, 1e-8, 0.01, decoupled}), b(wd, {0.9, 0.999, 1e-8, 0.01, decoupled});
    for (int s = 0; s < 3; ++s) {
      a.step(w, g, 1e-3);
      b.step(wd, gd, 1e-3);
    }
    expect_close(w, wd, 1e-6, 1e-4, decoupled ? "adamw" : "adam");
  }
}

TEST_F(Cuda, ResidualAdd) {
  Tensor a = random_host({17, 3, 5, 7}, 61), b = random_host({17, 3, 5, 7}, 62);
  Tensor out = Tensor::empty(a.shape(), DType::kF32);
  Tensor outd = Tensor::empty(a.shape(), DType::kF32, Device::kCuda);
  ops::add(a, b, out);
  ops::add(to_gpu(a), to_gpu(b), outd);
  expect_close(out, outd, 0, 0, "add");  // one float addition: exact
}

// Every BatchNorm op (core/ops_norm.hpp) against its CPU reference, as a
// BatchNorm layer calls them: on an image activation (N, C, H, W) and a dense
// one (N, C), in training (batch statistics, running statistics updated) and
// in evaluation (running statistics). Per-channel sums run over N*S values in
// another order on the GPU: a few float32 ulps of the sum of |terms|.
TEST_F(Cuda, BatchNormOpsForwardAndBackward) {
  const Shape shapes[] = {{13, 7, 5, 6}, {33, 9}};
  uint64_t seed = 70;
  for (const Shape& shape : shapes) {
    for (bool use_running : {false, true}) {
      const std::string what = shape_str(shape) + (use_running ? " eval" : " train");
      SCOPED_TRACE(what);
      const int64_t c = shape[1];
      const double count = static_cast<double>(shape_numel(shape) / c);  // values per channel
      // Inputs with a per-channel offset, so that the mean matters.
      Tensor x = random_host(shape, ++seed, 2.0f);
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] += 0.5f;
      Tensor gamma = random_host({c}, ++seed), beta = random_host({c}, ++seed);
      Tensor rmean = random_host({c}, ++seed, 0.1f);
      Tensor rvar = random_host({c}, ++seed, 0.5f);
      for (int64_t i = 0; i < c; ++i) rvar.data<float>()[i] += 1.0f;  // > 0
      Tensor xd = to_gpu(x), gammad = to_gpu(gamma), betad = to_gpu(beta);
      Tensor rmeand = to_gpu(rmean), rvard = to_gpu(rvar);

      // Forward: moments, statistics, normalisation.
      Tensor sums = Tensor::empty({2, c}, DType::kF32);
      Tensor sumsd = Tensor::empty({2, c}, DType::kF32, Device::kCuda);
      ops::channel_moments(x, Tensor(), c, sums);
      ops::channel_moments(xd, Tensor(), c, sumsd);
      const Tensor abs_x = test::abs_host(x);
      Tensor magnitude = Tensor::empty({2, c}, DType::kF32);
      ops::channel_moments(abs_x, Tensor(), c, magnitude);
      expect_close(sums, sumsd, 1e-5, kRtol, "channel_moments", &magnitude, 4 * 1.2e-7);
      Tensor mean = Tensor::empty({c}, DType::kF32), inv_std = Tensor::empty({c}, DType::kF32);
      Tensor meand = Tensor::empty({c}, DType::kF32, Device::kCuda);
      Tensor inv_stdd = Tensor::empty({c}, DType::kF32, Device::kCuda);
      // The same sums on both sides: the statistics alone are compared.
      sumsd.copy_from(sums);
      ops::batchnorm_statistics(sums, count, 1e-5, 0.1, use_running, rmean, rvar, mean, inv_std);
      ops::batchnorm_statistics(sumsd, count, 1e-5, 0.1, use_running, rmeand, rvard, meand,
                                inv_stdd);
      expect_close(mean, meand, 1e-6, kRtol, "mean");
      expect_close(inv_std, inv_stdd, 1e-6, kRtol, "inv_std");
      expect_close(rmean, rmeand, 1e-6, kRtol, "running mean");
      expect_close(rvar, rvard, 1e-6, kRtol, "running variance");
      Tensor xhat = Tensor::empty(shape, DType::kF32), y = Tensor::empty(shape, DType::kF32);
      Tensor xhatd = Tensor::empty(shape, DType::kF32, Device::kCuda);
      Tensor yd = Tensor::empty(shape, DType::kF32, Device::kCuda);
      ops::batchnorm_apply(x, mean, inv_std, gamma, beta, xhat, y);
      ops::batchnorm_apply(xd, to_gpu(mean), to_gpu(inv_std), gammad, betad, xhatd, yd);
      expect_close(xhat, xhatd, kAtol, kRtol, "xhat");
      expect_close(y, yd, kAtol, kRtol, "y");

      // Backward: sums of dy and dy*xhat, parameter gradients, input gradient.
      Tensor dy = random_host(shape, ++seed);
      Tensor dyd = to_gpu(dy);
      Tensor dsums = Tensor::empty({2, c}, DType::kF32);
      Tensor dsumsd = Tensor::empty({2, c}, DType::kF32, Device::kCuda);
      ops::channel_moments(dy, xhat, c, dsums);
      ops::channel_moments(dyd, to_gpu(xhat), c, dsumsd);
      Tensor dmagnitude = Tensor::empty({2, c}, DType::kF32);
      ops::channel_moments(test::abs_host(dy), test::abs_host(xhat), c, dmagnitude);
      expect_close(dsums, dsumsd, 1e-5, kRtol, "sums of dy and dy*xhat", &dmagnitude, 4 * 1.2e-7);
      dsumsd.copy_from(dsums);
      Tensor dgamma = random_host({c}, ++seed), dbeta = random_host({c}, ++seed);
      Tensor dgammad = to_gpu(dgamma), dbetad = to_gpu(dbeta);
      ops::batchnorm_param_grads(dsums, dgamma, dbeta);  // accumulates
      ops::batchnorm_param_grads(dsumsd, dgammad, dbetad);
      expect_close(dgamma, dgammad, kAtol, kRtol, "dgamma");
      expect_close(dbeta, dbetad, kAtol, kRtol, "dbeta");
      Tensor dx = Tensor::empty(shape, DType::kF32);
      Tensor dxd = Tensor::empty(shape, DType::kF32, Device::kCuda);
      ops::batchnorm_input_grad(dy, xhat, gamma, inv_std, dsums, count, dx);
      ops::batchnorm_input_grad(dyd, to_gpu(xhat), gammad, to_gpu(inv_std), dsumsd, count, dxd);
      expect_close(dx, dxd, kAtol, kRtol, "dx");
    }
  }
}

}  // namespace
}  // namespace lockstep
