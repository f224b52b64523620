// The CUDA convolution and pooling ops against their CPU reference on fresh
// random float32 inputs, forward and backward, over shapes with stride 2,
// padding, odd sizes and chunked batches; plus a small CNN's gradients through
// Model on both devices. Convolutions run on the default GPU backend (cuDNN
// where built); test_core_cudnn_conv compares the backends in every layout
// and precision. Skips cleanly when no GPU is visible (as in CI).
//
// Tolerance |gpu - cpu| <= atol + rtol |cpu|: atol 1e-4, rtol 1e-3 in fp32
// (GEMM and reductions sum in another order), plus, for the weight and bias
// gradients (sums over every output position of the batch: 200k terms in the
// largest case), 4 float32 epsilons of the sum of the terms' absolute values.
// Max-pool indices must be equal,
// and so must everything max pooling computes from them.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/device.hpp"
#include "core/model.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/pool.hpp"
#include "core/rng.hpp"
#include "tests/core/cuda_test_util.hpp"

namespace lockstep {
namespace {

constexpr double kAtol = 1e-4, kRtol = 1e-3;
constexpr double kSumEps = 4 * 1.1920928955078125e-7;  // 4 float32 epsilons

using test::abs_host;
using test::expect_close;
using test::random_host;
using test::to_gpu;
using test::to_host;
using CudaConv = test::CudaTest;

Tensor empty_gpu(const Shape& s, DType t = DType::kF32) {
  return Tensor::empty(s, t, Device::kCuda);
}

struct ConvCase {
  Shape x;  // (N, C, H, W)
  int64_t o, k, s, p;
};

TEST_F(CudaConv, Conv2dForwardAndBackward) {
  const ConvCase cases[] = {{{2, 3, 7, 5}, 3, 3, 1, 0},
                            {{2, 3, 7, 5}, 3, 3, 2, 1},
                            {{5, 1, 28, 28}, 32, 3, 1, 0},
                            {{4, 32, 13, 13}, 64, 3, 1, 1},
                            {{3, 6, 9, 11}, 7, 5, 2, 2},
                            {{1, 4, 6, 6}, 5, 2, 3, 1},
                            {{64, 8, 16, 16}, 16, 3, 2, 1},
                            // Over the GPU workspace cap: chunks of 12 samples and 1.
                            {{13, 32, 128, 128}, 32, 3, 1, 1}};
  for (const ConvCase& c : cases) {
    for (bool bias : {true, false}) {
      const std::string name = "conv " + shape_str(c.x) + " o" + std::to_string(c.o) + " k" +
                               std::to_string(c.k) + " s" + std::to_string(c.s) + " p" +
                               std::to_string(c.p) + (bias ? " bias" : "");
      const int64_t oh = ops::conv_out_size(c.x[2], c.k, c.s, c.p);
      const int64_t ow = ops::conv_out_size(c.x[3], c.k, c.s, c.p);
      const Shape ys{c.x[0], c.o, oh, ow}, ws{c.o, c.x[1], c.k, c.k};
      const Tensor x = random_host(c.x, 1), w = random_host(ws, 2);
      const Tensor b = bias ? random_host({c.o}, 3) : Tensor();
      const Tensor dy = random_host(ys, 4);
      Tensor y = Tensor::empty(ys, DType::kF32), scratch;
      Tensor dx = Tensor::empty(c.x, DType::kF32);
      const Tensor dw0 = random_host(ws, 5), db0 = random_host({c.o}, 6);
      Tensor dw = random_host(ws, 5), db = random_host({c.o}, 6);
      const Tensor xd = to_gpu(x), wd = to_gpu(w), dyd = to_gpu(dy);
      const Tensor bd = bias ? to_gpu(b) : Tensor();
      Tensor yd = empty_gpu(ys), dxd = empty_gpu(c.x), dwd = to_gpu(dw), dbd = to_gpu(db);
      Tensor scratch_d;

      ops::conv2d_forward(x, w, b, c.s, c.p, y, scratch);
      ops::conv2d_forward(xd, wd, bd, c.s, c.p, yd, scratch_d);
      expect_close(y, yd, kAtol, kRtol, name + " forward");
      ops::conv2d_backward(x, w, dy, c.s, c.p, &dx, dw, bias ? &db : nullptr, scratch);
      ops::conv2d_backward(xd, wd, dyd, c.s, c.p, &dxd, dwd, bias ? &dbd : nullptr, scratch_d);
      expect_close(dx, dxd, kAtol, kRtol, name + " dx");
      // Sums of |terms|: the initial |dw|, |db| plus the backward pass on |x|, |dy|.
      Tensor dw_mag = abs_host(dw0), db_mag = abs_host(db0), scratch_m;
      ops::conv2d_backward(abs_host(x), w, abs_host(dy), c.s, c.p, nullptr, dw_mag,
                           bias ? &db_mag : nullptr, scratch_m);
      expect_close(dw, dwd, kAtol, kRtol, name + " dw (accumulated)", &dw_mag, kSumEps);
      expect_close(db, dbd, kAtol, kRtol, name + " db (accumulated)", &db_mag, kSumEps);
      // Without dx: the parameter gradients accumulate once more.
      ops::conv2d_backward(x, w, dy, c.s, c.p, nullptr, dw, nullptr, scratch);
      ops::conv2d_backward(xd, wd, dyd, c.s, c.p, nullptr, dwd, nullptr, scratch_d);
      ops::conv2d_backward(abs_host(x), w, abs_host(dy), c.s, c.p, nullptr, dw_mag, nullptr,
                           scratch_m);
      expect_close(dw, dwd, kAtol, kRtol, name + " dw without dx", &dw_mag, kSumEps);
    }
  }
}

struct PoolCase {
  Shape x;
  int64_t k, s, p;
};
const PoolCase kPools[] = {{{2, 3, 7, 5}, 2, 2, 0},
                           {{2, 3, 7, 5}, 3, 1, 0},
                           {{2, 3, 7, 5}, 3, 2, 1},
                           {{64, 32, 26, 26}, 2, 2, 0},
                           {{3, 4, 9, 10}, 2, 1, 1}};

std::string pool_name(const char* kind, const PoolCase& c) {
  return std::string(kind) + " " + shape_str(c.x) + " k" + std::to_string(c.k) + " s" +
         std::to_string(c.s) + " p" + std::to_string(c.p);
}

// Random values, or small integers (many ties) when `ties` is set.
Tensor pool_input(const Shape& s, uint64_t seed, bool ties) {
  Tensor t = random_host(s, seed);
  if (ties)
    for (int64_t i = 0; i < t.numel(); ++i)
      t.data<float>()[i] = std::round(2.0f * t.data<float>()[i]);
  return t;
}

TEST_F(CudaConv, MaxPoolForwardAndBackwardIncludingTies) {
  for (const PoolCase& c : kPools) {
    for (bool ties : {false, true}) {
      const std::string name = pool_name("maxpool", c) + (ties ? " ties" : "");
      const Shape ys{c.x[0], c.x[1], ops::conv_out_size(c.x[2], c.k, c.s, c.p),
                     ops::conv_out_size(c.x[3], c.k, c.s, c.p)};
      const Tensor x = pool_input(c.x, 11, ties), dy = random_host(ys, 12);
      Tensor y = Tensor::empty(ys, DType::kF32), idx = Tensor::empty(ys, DType::kI32);
      Tensor dx = Tensor::empty(c.x, DType::kF32);
      Tensor yd = empty_gpu(ys), idxd = empty_gpu(ys, DType::kI32), dxd = empty_gpu(c.x);
      ops::maxpool2d_forward(x, c.k, c.s, c.p, y, idx);
      ops::maxpool2d_forward(to_gpu(x), c.k, c.s, c.p, yd, idxd);
      expect_close(y, yd, 0, 0, name + " forward");
      expect_close(idx, idxd, 0, 0, name + " index");
      ops::maxpool2d_backward(dy, idx, c.k, c.s, c.p, dx);
      ops::maxpool2d_backward(to_gpu(dy), idxd, c.k, c.s, c.p, dxd);
      expect_close(dx, dxd, 0, 0, name + " backward");
    }
  }
}

TEST_F(CudaConv, AvgPoolForwardAndBackward) {
  for (const PoolCase& c : kPools) {
    const std::string name = pool_name("avgpool", c);
    const Shape ys{c.x[0], c.x[1], ops::conv_out_size(c.x[2], c.k, c.s, c.p),
                   ops::conv_out_size(c.x[3], c.k, c.s, c.p)};
    const Tensor x = random_host(c.x, 21), dy = random_host(ys, 22);
    Tensor y = Tensor::empty(ys, DType::kF32), dx = Tensor::empty(c.x, DType::kF32);
    Tensor yd = empty_gpu(ys), dxd = empty_gpu(c.x);
    ops::avgpool2d_forward(x, c.k, c.s, c.p, y);
    ops::avgpool2d_forward(to_gpu(x), c.k, c.s, c.p, yd);
    expect_close(y, yd, kAtol, kRtol, name + " forward");
    ops::avgpool2d_backward(dy, c.k, c.s, c.p, dx);
    ops::avgpool2d_backward(to_gpu(dy), c.k, c.s, c.p, dxd);
    expect_close(dx, dxd, kAtol, kRtol, name + " backward");
  }
}

TEST_F(CudaConv, GlobalAvgPoolForwardAndBackward) {
  const Shape shapes[] = {{2, 3, 7, 5}, {64, 64, 1, 1}, {3, 5, 33, 31}, {1, 1000, 7, 7}};
  for (const Shape& s : shapes) {
    const std::string name = "global_avg_pool " + shape_str(s);
    const Tensor x = random_host(s, 31), dy = random_host({s[0], s[1]}, 32);
    Tensor y = Tensor::empty({s[0], s[1]}, DType::kF32), dx = Tensor::empty(s, DType::kF32);
    Tensor yd = empty_gpu({s[0], s[1]}), dxd = empty_gpu(s);
    ops::global_avg_pool_forward(x, y);
    ops::global_avg_pool_forward(to_gpu(x), yd);
    expect_close(y, yd, kAtol, kRtol, name + " forward");
    ops::global_avg_pool_backward(dy, dx);
    ops::global_avg_pool_backward(to_gpu(dy), dxd);
    expect_close(dx, dxd, kAtol, kRtol, name + " backward");
  }
}

// Forward and backward of a CNN through Model, same parameters on both devices.
TEST_F(CudaConv, CnnModelGradientsMatchCpu) {
  const char* layers =
      "conv2d(8, 3, padding=1), relu, maxpool2d(2), conv2d(16, 3, stride=2), relu, "
      "avgpool2d(2, stride=1), conv2d(8, 1, nobias), tanh, global_avg_pool, dense(10)";
  Model cpu(layers, {3, 15, 15});
  Model gpu(layers, {3, 15, 15}, DType::kF32, Device::kCuda);
  cpu.init_params(3, InitScheme::kHe);
  gpu.init_params(3, InitScheme::kHe);
  const Tensor x = random_host({16, 3, 15, 15}, 41), dy = random_host({16, 10}, 42);
  const RunContext ctx{Mode::kTrain, 1};
  for (int step = 0; step < 2; ++step) {  // the second step reuses every buffer
    cpu.zero_grad();
    gpu.zero_grad();
    const Tensor yc = cpu.forward(x, ctx);
    const Tensor yg = gpu.forward(to_gpu(x), ctx);
    expect_close(yc, yg, kAtol, kRtol, "model output step " + std::to_string(step));
    cpu.backward(dy);
    gpu.backward(to_gpu(dy));
    expect_close(cpu.grads(), gpu.grads(), kAtol, kRtol, "gradients step " + std::to_string(step));
  }
}

}  // namespace
}  // namespace lockstep
