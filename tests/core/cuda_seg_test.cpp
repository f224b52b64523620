// The CUDA upsampling, channel-join and transposed-convolution ops against
// their CPU reference on random float32 inputs, forward and backward, and a
// small U-Net's gradients through Model on both devices. Skips cleanly when
// no GPU is visible. Tolerance |gpu - cpu| <= 1e-4 + 1e-3 |cpu| (sums in
// another order); the channel joins must be equal.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/ops/conv_transpose.hpp"
#include "core/ops/resize.hpp"
#include "tests/core/cuda_test_util.hpp"

namespace lockstep {
namespace {

constexpr double kAtol = 1e-4, kRtol = 1e-3;

using test::expect_close;
using test::random_host;
using test::to_gpu;
using CudaSeg = test::CudaTest;

Tensor host(const Shape& s) {
  return Tensor::zeros(s, DType::kF32);
}
Tensor gpu(const Shape& s) {
  return Tensor::zeros(s, DType::kF32, Device::kCuda);
}

TEST_F(CudaSeg, Upsample) {
  for (auto mode : {ops::UpsampleMode::kNearest, ops::UpsampleMode::kBilinear})
    for (int64_t s : {2, 3}) {
      const std::string name =
          std::string(mode == ops::UpsampleMode::kNearest ? "nearest" : "bilinear") + " x" +
          std::to_string(s);
      const Shape in{3, 4, 5, 7}, out{3, 4, 5 * s, 7 * s};
      const Tensor x = random_host(in, 1), dy = random_host(out, 2);
      Tensor y = host(out), dx = host(in), gy = gpu(out), gdx = gpu(in);
      ops::upsample_forward(x, s, mode, y);
      ops::upsample_forward(to_gpu(x), s, mode, gy);
      expect_close(y, gy, kAtol, kRtol, name + " y");
      ops::upsample_backward(dy, s, mode, dx);
      ops::upsample_backward(to_gpu(dy), s, mode, gdx);
      expect_close(dx, gdx, kAtol, kRtol, name + " dx");
    }
}

TEST_F(CudaSeg, ConcatAndSplit) {
  const Tensor a = random_host({3, 2, 4, 5}, 1), b = random_host({3, 5, 4, 5}, 2);
  Tensor y = host({3, 7, 4, 5}), gy = gpu({3, 7, 4, 5});
  ops::concat_channels(a, b, y);
  ops::concat_channels(to_gpu(a), to_gpu(b), gy);
  expect_close(y, gy, 0, 0, "concat");
  Tensor da = host(a.shape()), db = host(b.shape()), gda = gpu(a.shape()), gdb = gpu(b.shape());
  ops::split_channels(y, da, &db);
  ops::split_channels(gy, gda, &gdb);
  expect_close(a, gda, 0, 0, "split a");
  expect_close(b, gdb, 0, 0, "split b");
}

TEST_F(CudaSeg, ConvTranspose) {
  struct Case {
    Shape x;
    int64_t o, k, s, p, q;
  };
  const Case cases[] = {{{2, 3, 5, 4}, 4, 2, 2, 0, 0},
                        {{2, 3, 5, 4}, 2, 3, 2, 1, 1},
                        {{3, 8, 7, 7}, 5, 3, 1, 1, 0},
                        {{1, 2, 3, 6}, 3, 4, 3, 2, 2}};
  for (const Case& c : cases) {
    const std::string name = "conv_transpose " + shape_str(c.x) + " k" + std::to_string(c.k) +
                             " s" + std::to_string(c.s) + " p" + std::to_string(c.p);
    const int64_t oh = ops::conv_transpose_out_size(c.x[2], c.k, c.s, c.p, c.q);
    const int64_t ow = ops::conv_transpose_out_size(c.x[3], c.k, c.s, c.p, c.q);
    const Shape ys{c.x[0], c.o, oh, ow}, ws{c.x[1], c.o, c.k, c.k};
    const Tensor x = random_host(c.x, 1), w = random_host(ws, 2), b = random_host({c.o}, 3);
    const Tensor dy = random_host(ys, 4);
    Tensor y = host(ys), gy = gpu(ys);
    ops::conv_transpose2d_forward(x, w, b, c.s, c.p, y);
    ops::conv_transpose2d_forward(to_gpu(x), to_gpu(w), to_gpu(b), c.s, c.p, gy);
    expect_close(y, gy, kAtol, kRtol, name + " y");
    Tensor dx = host(c.x), dw = host(ws), db = host({c.o});
    Tensor gdx = gpu(c.x), gdw = gpu(ws), gdb = gpu({c.o});
    ops::conv_transpose2d_backward(x, w, dy, c.s, c.p, &dx, dw, &db);
    ops::conv_transpose2d_backward(to_gpu(x), to_gpu(w), to_gpu(dy), c.s, c.p, &gdx, gdw, &gdb);
    expect_close(dx, gdx, kAtol, kRtol, name + " dx");
    expect_close(dw, gdw, kAtol, kRtol, name + " dw");
    expect_close(db, gdb, kAtol, kRtol, name + " db");
  }
}

TEST_F(CudaSeg, PixelCrossEntropy) {
  const Tensor z = random_host({3, 4, 5, 6}, 1, 3.0f);
  Tensor y = Tensor::empty({3, 5, 6}, DType::kI32);
  Rng rng(2);
  for (int64_t i = 0; i < y.numel(); ++i)
    y.data<int32_t>()[i] = rng.uniform() < 0.2 ? 255 : static_cast<int32_t>(rng.below(4));
  Loss cpu(LossKind::kCrossEntropy, {255, {1.0, 0.5, 2.0, 1.5}});
  Loss dev(LossKind::kCrossEntropy, {255, {1.0, 0.5, 2.0, 1.5}});
  Tensor dz = host(z.shape()), gdz = gpu(z.shape());
  const LossSums a = cpu.compute(z, y, 40.0, &dz);
  const LossSums b = dev.compute(to_gpu(z), to_gpu(y), 40.0, &gdz);
  EXPECT_NEAR(a.loss, b.loss, 1e-9 * std::abs(a.loss));
  EXPECT_EQ(a.correct, b.correct);
  expect_close(dz, gdz, 1e-6, 1e-4, "dlogits");
  for (int64_t s = 0; s < 3; ++s)
    EXPECT_NEAR(cpu.row_weights().data<double>()[s], dev.row_weights().data<double>()[s], 1e-12);
}

TEST_F(CudaSeg, UnetGradientsThroughModel) {
  const std::string spec =
      "conv2d(4, 3, padding=1) @enc1, relu, maxpool2d(2), conv2d(8, 3, padding=1), "
      "conv_transpose2d(4, 2), concat(@enc1), conv2d(4, 3, padding=1), add(@enc1), "
      "upsample(2, mode=bilinear), conv2d(3, 1)";
  Model cpu(spec, {2, 8, 8}), dev(spec, {2, 8, 8}, DType::kF32, Device::kCuda);
  cpu.init_params(5, InitScheme::kHe);
  dev.init_params(5, InitScheme::kHe);
  const Tensor x = random_host({3, 2, 8, 8}, 1), c = random_host({3, 3, 16, 16}, 2);
  const RunContext ctx{Mode::kTrain, 1};
  const Tensor y = cpu.forward(x, ctx);
  const Tensor gy = dev.forward(to_gpu(x), ctx);
  expect_close(y, gy, kAtol, kRtol, "unet y");
  cpu.zero_grad();
  dev.zero_grad();
  cpu.backward(c);
  dev.backward(to_gpu(c));
  expect_close(cpu.grads(), dev.grads(), 1e-3, 1e-2, "unet grads");
}

}  // namespace
}  // namespace lockstep
