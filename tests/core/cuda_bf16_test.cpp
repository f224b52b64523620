// bf16 mixed precision on the GPU against the CPU emulation (bf16_test.cpp
// tests the emulation against float32 and the bf16 semantics). Skips cleanly
// when no GPU is visible; runs for real on the GPU machine.
//
// Tolerances:
// - round_bf16: the same bits as the CPU (both use core/half.hpp).
// - GEMM with CUBLAS_COMPUTE_32F_FAST_16BF on bfloat16-valued inputs: the
//   products are exact and the sums float32, so only summation order
//   differs: 1e-5 Σ|terms| (as float32 GEMMs).
// - Whole models forward and backward: GPU and CPU round the same values to
//   bfloat16 at every layer, but a float32 sum on one side of a rounding tie
//   on the other is a one-ulp (2^-8) flip that later layers carry on:
//   relative L2 difference of outputs and gradient slabs below 1e-2.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/model.hpp"
#include "core/ops/dense.hpp"
#include "core/ops/elementwise.hpp"
#include "tests/core/bf16_test_util.hpp"
#include "tests/core/cuda_test_util.hpp"

namespace lockstep {
namespace {

using test::bits;
using test::expect_close;
using test::PrecisionScope;
using test::random_host;
using test::rel_l2;
using test::rounded;
using test::to_gpu;
using test::to_host;
using Cuda = test::CudaTest;

TEST_F(Cuda, RoundBf16IsBitIdenticalToTheCpu) {
  constexpr int64_t n = (1 << 20) + 17;
  Tensor x = Tensor::empty({n}, DType::kF32);
  Rng rng(3);
  for (int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<uint32_t>(rng.next_u64());
    std::memcpy(x.data<float>() + i, &u, sizeof u);
  }
  Tensor xd = to_gpu(x), yd = Tensor::empty({n}, DType::kF32, Device::kCuda);
  ops::round_bf16(xd, yd);
  ops::round_bf16(xd);  // in place
  const Tensor y = to_host(yd), z = to_host(xd);
  ops::round_bf16(x);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(bits(y.data<float>()[i]), bits(x.data<float>()[i])) << i;
    ASSERT_EQ(bits(z.data<float>()[i]), bits(x.data<float>()[i])) << i;
  }
}

TEST_F(Cuda, Bf16GemmMatchesTheCpuEmulation) {
  PrecisionScope scope(Precision::kBf16);
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      const int64_t m = 37, n = 53, k = 300;
      const Tensor a = rounded(random_host(ta ? Shape{k, m} : Shape{m, k}, 1 + ta));
      const Tensor b = rounded(random_host(tb ? Shape{n, k} : Shape{k, n}, 3 + tb));
      Tensor c = random_host({m, n}, 5), cd = to_gpu(c);
      Tensor mag = Tensor::zeros({m, n}, DType::kF32);
      ops::gemm(ta, tb, 1.0, test::abs_host(a), test::abs_host(b), 0.0, mag);
      for (int64_t i = 0; i < mag.numel(); ++i)
        mag.data<float>()[i] += std::abs(c.data<float>()[i]);
      ops::gemm(ta, tb, 1.0, a, b, 1.0, c);
      ops::gemm(ta, tb, 1.0, to_gpu(a), to_gpu(b), 1.0, cd);
      expect_close(c, cd, 0, 0, "bf16 gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb),
                   &mag, 1e-5);
    }
  }
}

// Forward and backward of whole models in bf16 on both devices.
TEST_F(Cuda, Bf16ModelsMatchTheCpuEmulation) {
  PrecisionScope scope(Precision::kBf16);
  const struct {
    const char* spec;
    Shape sample;
  } models[] = {
      {"dense(64), relu, dropout(0.25), dense(32), tanh, dense(10)", {48}},
      {"conv2d(8, 3, padding=1), batchnorm, relu, residual(conv2d(8, 3, padding=1), batchnorm, "
       "relu), maxpool2d(2), dense(32), batchnorm, relu, dense(10)",
       {3, 8, 8}},
      {"conv2d(4, 3, padding=1) @e, maxpool2d(2), conv2d(8, 3, padding=1), "
       "conv_transpose2d(4, 2, stride=2), concat(@e), conv2d(3, 1)",
       {1, 8, 8}},
  };
  for (const auto& c : models) {
    SCOPED_TRACE(c.spec);
    Model cpu(c.spec, c.sample), gpu(c.spec, c.sample, DType::kF32, Device::kCuda);
    cpu.init_params(5, InitScheme::kHe);
    gpu.init_params(5, InitScheme::kHe);
    Shape in{32};
    in.insert(in.end(), c.sample.begin(), c.sample.end());
    const Tensor x = random_host(in, 51);
    const Tensor yc = to_host(cpu.forward(x, RunContext(Mode::kTrain, 3)));
    const Tensor yg = gpu.forward(to_gpu(x), RunContext(Mode::kTrain, 3));
    const Tensor dy = random_host(yc.shape(), 52, 0.05f);
    cpu.backward(dy);
    gpu.backward(to_gpu(dy));
    const double ry = rel_l2(to_host(yg), yc), rg = rel_l2(to_host(gpu.grads()), cpu.grads());
    std::printf("[ info ] %s: GPU vs CPU bf16, relative L2: output %.3g, gradients %.3g\n", c.spec,
                ry, rg);
    EXPECT_LT(ry, 1e-2);
    EXPECT_LT(rg, 1e-2);
    // The master weights were not touched, and the outputs are bfloat16 values.
    expect_close(cpu.params(), gpu.params(), 0, 0, "master weights");
    const Tensor h = to_host(yg);
    for (int64_t i = 0; i < h.numel(); ++i)
      ASSERT_EQ(bits(h.data<float>()[i]) & 0xffffu, 0u) << "GPU output " << i;
  }
}

}  // namespace
}  // namespace lockstep
