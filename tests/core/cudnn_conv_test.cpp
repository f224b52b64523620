// The GPU convolution backends against each other and the CPU reference:
// cuDNN (NCHW and NHWC) and im2col + cuBLAS (with its whole-batch, per-sample
// and row chunks), forward and backward (dx overwritten, dw and db
// accumulated), on every shape of the conv suite, in fp32, TF32 and bf16;
// transposed convolutions through cuDNN; the algorithm cache; run-to-run
// reproducibility; and camera-sized inputs within a memory bound. CUDA builds
// only; skips without a GPU.
//
// Tolerance per element: |gpu - cpu| <= atol + rtol |cpu| + eps * m, where m
// is the sum of the absolute values of the terms that make up the element
// (the same op run on |x|, |w|, |dy| on the CPU, plus |bias| or the initial
// |acc|), so that a long sum with cancellation is judged against what was
// summed:
//   fp32: atol 1e-4, rtol 1e-3, eps 4 float32 epsilons (another summation order);
//   TF32: atol 1e-4, eps 2^-8 (each input cut to 10 mantissa bits, by
//         rounding or truncation: a product within 2^-9 of its value, doubled
//         for the accumulation);
//   bf16: atol 1e-4, eps 1/64 (inputs rounded to 7 mantissa bits: a product
//         within 2^-7, plus the bf16 rounding of the output, 2^-8; doubled).

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/cuda/workspace.hpp"
#include "core/device.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/conv_transpose.hpp"
#include "tests/core/cuda_test_util.hpp"

namespace lockstep {
namespace {

using ops::ConvBackend;
using ops::ConvLayout;
using test::abs_host;
using test::expect_close;
using test::random_host;
using test::to_gpu;
using test::to_host;

struct Tolerance {
  double atol, rtol, eps;
};
constexpr Tolerance kFp32{1e-4, 1e-3, 4 * 1.1920928955078125e-7};
constexpr Tolerance kTf32{1e-4, 0, 1.0 / 256};
constexpr Tolerance kBf16{1e-4, 0, 1.0 / 64};

// Restores fp32, the cuDNN backend (where built) and the default im2col cap
// after each test.
class CudnnConv : public test::CudaTest {
 protected:
  void TearDown() override {
    if (device::count() == 0) return;
    device::select(0, device::Precision::kFp32);
    ops::set_conv_backend(ops::cudnn_built() ? ConvBackend::kCudnn : ConvBackend::kIm2col);
    ops::set_im2col_workspace_cap(0);
  }
};

struct ConvCase {
  Shape x;  // (N, C, H, W)
  int64_t o, k, s, p;
  std::string name() const {
    return "conv " + shape_str(x) + " o" + std::to_string(o) + " k" + std::to_string(k) + " s" +
           std::to_string(s) + " p" + std::to_string(p);
  }
  Shape w_shape() const { return {o, x[1], k, k}; }
  Shape y_shape() const {
    return {x[0], o, ops::conv_out_size(x[2], k, s, p), ops::conv_out_size(x[3], k, s, p)};
  }
};

// The shapes of the conv suite (cuda_conv_test.cpp): stride 2, padding, odd
// sizes, a kernel with stride over its size, batches over the im2col cap.
const ConvCase kCases[] = {{{2, 3, 7, 5}, 3, 3, 1, 0},     {{2, 3, 7, 5}, 3, 3, 2, 1},
                           {{5, 1, 28, 28}, 32, 3, 1, 0},  {{4, 32, 13, 13}, 64, 3, 1, 1},
                           {{3, 6, 9, 11}, 7, 5, 2, 2},    {{1, 4, 6, 6}, 5, 2, 3, 1},
                           {{64, 8, 16, 16}, 16, 3, 2, 1}, {{13, 32, 128, 128}, 32, 3, 1, 1}};

Tensor copy_host(const Tensor& t) {
  Tensor r = Tensor::empty(t.shape(), t.dtype());
  r.copy_from(t);
  return r;
}

Tensor full(const Shape& s, float v, Device device = Device::kCpu) {
  Tensor h = Tensor::empty(s, DType::kF32);
  std::fill(h.data<float>(), h.data<float>() + h.numel(), v);
  return device == Device::kCuda ? to_gpu(h) : h;
}

// (N, C, H, W) <-> (N, H, W, C) on the host; w (O, C, kh, kw) <-> (O, kh, kw, C) alike.
Tensor to_nhwc(const Tensor& t) {
  const int64_t n = t.dim(0), c = t.dim(1), h = t.dim(2), w = t.dim(3);
  Tensor r = Tensor::empty({n, h, w, c}, DType::kF32);
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = 0; b < c; ++b)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j)
          r.data<float>()[((a * h + i) * w + j) * c + b] =
              t.data<float>()[((a * c + b) * h + i) * w + j];
  return r;
}
Tensor to_nchw(const Tensor& t) {
  const int64_t n = t.dim(0), h = t.dim(1), w = t.dim(2), c = t.dim(3);
  Tensor r = Tensor::empty({n, c, h, w}, DType::kF32);
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = 0; b < c; ++b)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j)
          r.data<float>()[((a * c + b) * h + i) * w + j] =
              t.data<float>()[((a * h + i) * w + j) * c + b];
  return r;
}

struct Inputs {
  Tensor x, w, b, dy, dw0, db0;  // host, NCHW
};
Inputs inputs(const ConvCase& c, bool bias, uint64_t seed) {
  return {random_host(c.x, seed),
          random_host(c.w_shape(), seed + 1),
          bias ? random_host({c.o}, seed + 2) : Tensor(),
          random_host(c.y_shape(), seed + 3),
          random_host(c.w_shape(), seed + 4),
          random_host({c.o}, seed + 5)};
}

struct Outputs {
  Tensor y, dx, dw, db;  // host, NCHW
};

Outputs run_cpu(const ConvCase& c, const Inputs& in) {
  Outputs r{Tensor::empty(c.y_shape(), DType::kF32), Tensor::empty(c.x, DType::kF32),
            copy_host(in.dw0), copy_host(in.db0)};
  Tensor ws;
  ops::conv2d_forward(in.x, in.w, in.b, c.s, c.p, r.y, ws);
  ops::conv2d_backward(in.x, in.w, in.dy, c.s, c.p, &r.dx, r.dw, &r.db, ws);
  return r;
}

// The sums of |terms| of every output element (see the file comment).
Outputs magnitudes(const ConvCase& c, const Inputs& in) {
  const Inputs a{abs_host(in.x),  abs_host(in.w),   in.b.defined() ? abs_host(in.b) : Tensor(),
                 abs_host(in.dy), abs_host(in.dw0), abs_host(in.db0)};
  return run_cpu(c, a);
}

Outputs run_gpu(const ConvCase& c, const Inputs& in, ConvLayout layout) {
  const bool nhwc = layout == ConvLayout::kNhwc;
  const auto put = [&](const Tensor& t) { return to_gpu(nhwc ? to_nhwc(t) : t); };
  const auto get = [&](const Tensor& t) { return nhwc ? to_nchw(to_host(t)) : to_host(t); };
  const Tensor x = put(in.x), w = put(in.w), dy = put(in.dy);
  const Tensor b = in.b.defined() ? to_gpu(in.b) : Tensor();
  Tensor dw = put(in.dw0), db = to_gpu(in.db0), unused;
  Tensor y = Tensor::empty(dy.shape(), DType::kF32, Device::kCuda);
  Tensor dx = Tensor::empty(x.shape(), DType::kF32, Device::kCuda);
  ops::conv2d_forward(x, w, b, c.s, c.p, y, unused, layout);
  ops::conv2d_backward(x, w, dy, c.s, c.p, &dx, dw, &db, unused, layout);
  return {get(y), get(dx), get(dw), to_host(db)};
}

void expect_outputs(const Outputs& ref, const Outputs& got, const Outputs& mag, Tolerance t,
                    const std::string& name) {
  const auto check = [&](const Tensor& r, const Tensor& g, const Tensor& m, const char* what) {
    expect_close(r, to_gpu(g), t.atol, t.rtol, name + " " + what, &m, t.eps);
  };
  check(ref.y, got.y, mag.y, "y");
  check(ref.dx, got.dx, mag.dx, "dx");
  check(ref.dw, got.dw, mag.dw, "dw (accumulated)");
  check(ref.db, got.db, mag.db, "db (accumulated)");
}

void compare_all(ConvBackend backend, ConvLayout layout, device::Precision precision,
                 Tolerance tol) {
  device::select(0, precision);
  ops::set_conv_backend(backend);
  for (const ConvCase& c : kCases)
    for (bool bias : {true, false}) {
      const std::string name = c.name() + (bias ? " bias " : " ") + ops::to_string(backend) + " " +
                               ops::to_string(layout) + " " + to_string(precision);
      const Inputs in = inputs(c, bias, 7);
      expect_outputs(run_cpu(c, in), run_gpu(c, in, layout), magnitudes(c, in), tol, name);
      if (testing::Test::HasFailure()) return;
    }
}

// Tests of the cuDNN backend: skip in builds without it too.
class CudnnOnly : public CudnnConv {
 protected:
  void SetUp() override {
    CudnnConv::SetUp();
    if (IsSkipped()) return;
    if (!ops::cudnn_built()) GTEST_SKIP() << "this build has no cuDNN";
  }
};

TEST_F(CudnnOnly, CudnnNchwFp32MatchesCpu) {
  compare_all(ConvBackend::kCudnn, ConvLayout::kNchw, device::Precision::kFp32, kFp32);
}

TEST_F(CudnnOnly, CudnnNhwcFp32MatchesCpu) {
  compare_all(ConvBackend::kCudnn, ConvLayout::kNhwc, device::Precision::kFp32, kFp32);
}

TEST_F(CudnnOnly, CudnnTf32WithinTf32Rounding) {
  compare_all(ConvBackend::kCudnn, ConvLayout::kNchw, device::Precision::kTf32, kTf32);
  compare_all(ConvBackend::kCudnn, ConvLayout::kNhwc, device::Precision::kTf32, kTf32);
}

TEST_F(CudnnOnly, CudnnBf16WithinBf16Rounding) {
  compare_all(ConvBackend::kCudnn, ConvLayout::kNchw, device::Precision::kBf16, kBf16);
  compare_all(ConvBackend::kCudnn, ConvLayout::kNhwc, device::Precision::kBf16, kBf16);
}

// bf16 really rounds the inputs: a conv of 1 + 2^-10 (not a bf16 value) by 1
// gives exactly 1 under bf16, and 1 + 2^-10 under fp32.
TEST_F(CudnnOnly, CudnnBf16RoundsInputsToBf16) {
  const Tensor x = full({1, 1, 1, 1}, 1.0f + 1.0f / 1024), w = full({1, 1, 1, 1}, 1.0f);
  for (auto p : {device::Precision::kFp32, device::Precision::kBf16}) {
    device::select(0, p);
    Tensor y = Tensor::empty({1, 1, 1, 1}, DType::kF32, Device::kCuda), unused;
    ops::conv2d_forward(to_gpu(x), to_gpu(w), Tensor(), 1, 0, y, unused);
    const float expected = p == device::Precision::kBf16 ? 1.0f : 1.0f + 1.0f / 1024;
    EXPECT_EQ(to_host(y).data<float>()[0], expected) << to_string(p);
  }
}

TEST_F(CudnnConv, Im2colMatchesCpuWithSampleAndRowChunks) {
  // The default cap (whole batches; the last case in chunks of 12 samples),
  // then caps that force fewer samples, one sample, a few output rows, and
  // single rows per chunk (with strides 2 and 3 and padding).
  for (int64_t cap : {int64_t{0}, int64_t{20000}, int64_t{700}, int64_t{100}}) {
    ops::set_im2col_workspace_cap(cap);
    compare_all(ConvBackend::kIm2col, ConvLayout::kNchw, device::Precision::kFp32, kFp32);
    if (testing::Test::HasFailure()) FAIL() << "with im2col cap " << cap;
  }
}

TEST_F(CudnnConv, Im2colRefusesNhwc) {
  ops::set_conv_backend(ConvBackend::kIm2col);
  Tensor x = Tensor::zeros({1, 5, 5, 3}, DType::kF32, Device::kCuda);
  Tensor w = Tensor::zeros({4, 3, 3, 3}, DType::kF32, Device::kCuda);
  Tensor y = Tensor::zeros({1, 3, 3, 4}, DType::kF32, Device::kCuda), unused;
  EXPECT_THROW(ops::conv2d_forward(x, w, Tensor(), 1, 0, y, unused, ConvLayout::kNhwc), Error);
}

// cuDNN and im2col agree closely with each other too (both fp32).
TEST_F(CudnnOnly, CudnnMatchesIm2col) {
  for (const ConvCase& c : kCases) {
    const Inputs in = inputs(c, true, 31);
    ops::set_conv_backend(ConvBackend::kIm2col);
    const Outputs ref = run_gpu(c, in, ConvLayout::kNchw);
    ops::set_conv_backend(ConvBackend::kCudnn);
    expect_outputs(ref, run_gpu(c, in, ConvLayout::kNchw), magnitudes(c, in), kFp32,
                   c.name() + " cudnn vs im2col");
  }
}

TEST_F(CudnnOnly, AlgorithmCacheIsHitOnTheSecondCall) {
  ops::set_conv_backend(ConvBackend::kCudnn);
  // A shape no other test uses.
  const ConvCase c{{3, 5, 17, 19}, 6, 3, 1, 1};
  const Inputs in = inputs(c, true, 41);
  const ops::ConvAlgoStats before = ops::conv_algo_stats();
  run_gpu(c, in, ConvLayout::kNchw);  // forward, backward data, backward filter
  const ops::ConvAlgoStats first = ops::conv_algo_stats();
  EXPECT_EQ(first.plans - before.plans, 1);
  EXPECT_EQ(first.lookups - before.lookups, 3);
  EXPECT_EQ(first.searches - before.searches, 3);
  run_gpu(c, in, ConvLayout::kNchw);
  const ops::ConvAlgoStats second = ops::conv_algo_stats();
  EXPECT_EQ(second.plans, first.plans);
  EXPECT_EQ(second.lookups - first.lookups, 3);
  EXPECT_EQ(second.searches, first.searches);  // all three from the cache
  // Another layout, or another precision, is another entry.
  run_gpu(c, in, ConvLayout::kNhwc);
  EXPECT_EQ(ops::conv_algo_stats().plans, second.plans + 1);
  device::select(0, device::Precision::kTf32);
  run_gpu(c, in, ConvLayout::kNchw);
  EXPECT_EQ(ops::conv_algo_stats().plans, second.plans + 2);
  EXPECT_EQ(ops::conv_algo_stats().searches, second.searches + 6);
}

// The same inputs give the same bits on every call (deterministic algorithms).
TEST_F(CudnnOnly, CudnnIsReproducible) {
  for (auto p : {device::Precision::kFp32, device::Precision::kTf32, device::Precision::kBf16}) {
    device::select(0, p);
    for (ConvLayout layout : {ConvLayout::kNchw, ConvLayout::kNhwc}) {
      const ConvCase c{{16, 32, 33, 31}, 64, 3, 1, 1};
      const Inputs in = inputs(c, true, 51);
      const Outputs a = run_gpu(c, in, layout), b = run_gpu(c, in, layout);
      const std::string name = std::string(to_string(p)) + " " + ops::to_string(layout);
      expect_close(a.y, to_gpu(b.y), 0, 0, name + " y");
      expect_close(a.dx, to_gpu(b.dx), 0, 0, name + " dx");
      expect_close(a.dw, to_gpu(b.dw), 0, 0, name + " dw");
      expect_close(a.db, to_gpu(b.db), 0, 0, name + " db");
    }
  }
}

// Transposed convolutions through cuDNN (the data gradient of a conv2d)
// against the CPU reference, including output padding.
TEST_F(CudnnOnly, CudnnTransposedConvMatchesCpu) {
  struct TCase {
    Shape x;
    int64_t o, k, s, p, q;
  };
  const TCase cases[] = {{{2, 3, 4, 5}, 4, 2, 2, 0, 0},
                         {{2, 6, 5, 3}, 3, 3, 2, 1, 1},
                         {{3, 8, 7, 7}, 5, 4, 2, 1, 0},
                         {{1, 16, 16, 16}, 8, 3, 1, 1, 0}};
  for (const TCase& c : cases) {
    const std::string name = "conv_transpose " + shape_str(c.x) + " o" + std::to_string(c.o) +
                             " k" + std::to_string(c.k) + " s" + std::to_string(c.s) + " p" +
                             std::to_string(c.p) + " q" + std::to_string(c.q);
    const Shape ws{c.x[1], c.o, c.k, c.k};
    const Shape ys{c.x[0], c.o, ops::conv_transpose_out_size(c.x[2], c.k, c.s, c.p, c.q),
                   ops::conv_transpose_out_size(c.x[3], c.k, c.s, c.p, c.q)};
    const Tensor x = random_host(c.x, 61), w = random_host(ws, 62), b = random_host({c.o}, 63);
    const Tensor dy = random_host(ys, 64);
    Tensor y = Tensor::empty(ys, DType::kF32), dx = Tensor::empty(c.x, DType::kF32);
    Tensor dw = random_host(ws, 65), db = random_host({c.o}, 66);
    Tensor yd = Tensor::empty(ys, DType::kF32, Device::kCuda);
    Tensor dxd = Tensor::empty(c.x, DType::kF32, Device::kCuda);
    Tensor dwd = to_gpu(dw), dbd = to_gpu(db);
    ops::conv_transpose2d_forward(x, w, b, c.s, c.p, y);
    ops::conv_transpose2d_backward(x, w, dy, c.s, c.p, &dx, dw, &db);
    ops::set_conv_backend(ConvBackend::kCudnn);
    ops::conv_transpose2d_forward(to_gpu(x), to_gpu(w), to_gpu(b), c.s, c.p, yd);
    ops::conv_transpose2d_backward(to_gpu(x), to_gpu(w), to_gpu(dy), c.s, c.p, &dxd, dwd, &dbd);
    expect_close(y, yd, 1e-4, 1e-3, name + " y");
    expect_close(dx, dxd, 1e-4, 1e-3, name + " dx");
    expect_close(dw, dwd, 1e-4, 1e-3, name + " dw");
    expect_close(db, dbd, 1e-4, 1e-3, name + " db");
  }
}

// Device memory the pool handed out at its peak since the last reset, in bytes.
size_t pool_peak_since_reset(cudaMemPool_t pool) {
  uint64_t high = 0;
  EXPECT_EQ(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &high), cudaSuccess);
  return high;
}
size_t pool_in_use(cudaMemPool_t pool) {
  uint64_t used = 0;
  EXPECT_EQ(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used), cudaSuccess);
  return used;
}
void pool_reset_peak(cudaMemPool_t pool) {
  uint64_t zero = 0;
  EXPECT_EQ(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero), cudaSuccess);
}

// A camera frame (3x1024x2048, batch 1) through a 3->16 3x3 conv, forward and
// backward, on both backends, against the CPU; then a 64->64 3x3 layer at
// 512x1024 (cuDNN against im2col, whose col would be 1.2 GB unchunked) and
// the forward of a 256->256 3x3 layer at 1024x2048 (im2col's col would be
// 19 GB). Bound: what the ops take beyond their arguments, i.e. the shared
// workspace, stays within 256 MiB (cuDNN's algorithm workspace cap, and the
// im2col cap of 2^26 floats) plus the 2 MiB growth granule.
TEST_F(CudnnConv, CameraSizedInputsStayWithinTheMemoryBound) {
  constexpr size_t kBound = (size_t{256} + 2) << 20;
  cudaMemPool_t pool = nullptr;
  ASSERT_EQ(cudaDeviceGetDefaultMemPool(&pool, 0), cudaSuccess);
  std::vector<ConvBackend> backends{ConvBackend::kIm2col};
  if (ops::cudnn_built()) backends.push_back(ConvBackend::kCudnn);

  const ConvCase first{{1, 3, 1024, 2048}, 16, 3, 1, 1};
  const Inputs in = inputs(first, true, 71);
  const Outputs ref = run_cpu(first, in), mag = magnitudes(first, in);
  for (ConvBackend backend : backends) {
    ops::set_conv_backend(backend);
    const Tensor x = to_gpu(in.x), w = to_gpu(in.w), b = to_gpu(in.b), dy = to_gpu(in.dy);
    Tensor dw = to_gpu(in.dw0), db = to_gpu(in.db0), unused;
    Tensor y = Tensor::empty(first.y_shape(), DType::kF32, Device::kCuda);
    Tensor dx = Tensor::empty(first.x, DType::kF32, Device::kCuda);
    device::synchronize();
    const size_t before = pool_in_use(pool);
    pool_reset_peak(pool);
    ops::conv2d_forward(x, w, b, 1, 1, y, unused);
    ops::conv2d_backward(x, w, dy, 1, 1, &dx, dw, &db, unused);
    device::synchronize();
    const size_t extra = pool_peak_since_reset(pool) - before;
    EXPECT_LE(extra, kBound) << ops::to_string(backend);
    EXPECT_LE(lockstep::cuda::shared_workspace_bytes(), kBound);
    expect_outputs(ref, {to_host(y), to_host(dx), to_host(dw), to_host(db)}, mag, kFp32,
                   std::string("camera 3->16 ") + ops::to_string(backend));
  }

  // 64 -> 64 at 512x1024: the backends against each other (fp32), within the bound.
  const ConvCase mid{{1, 64, 512, 1024}, 64, 3, 1, 1};
  const Inputs in2 = inputs(mid, true, 81);
  Outputs outs[2];
  for (size_t i = 0; i < backends.size(); ++i) {
    ops::set_conv_backend(backends[i]);
    device::synchronize();
    outs[i] = run_gpu(mid, in2, ConvLayout::kNchw);
    EXPECT_LE(lockstep::cuda::shared_workspace_bytes(), kBound) << ops::to_string(backends[i]);
  }
  if (backends.size() == 2) {
    // Differences between two float32 sums of 576 terms of size ~1: a
    // bound of 1e-3 absolute (the CPU reference would take minutes here).
    expect_close(outs[0].y, to_gpu(outs[1].y), 1e-3, 1e-3, "64->64 y");
    expect_close(outs[0].dx, to_gpu(outs[1].dx), 1e-3, 1e-3, "64->64 dx");
    expect_close(outs[0].dw, to_gpu(outs[1].dw), 0.5, 1e-3, "64->64 dw (sums of 512k terms)");
    expect_close(outs[0].db, to_gpu(outs[1].db), 0.5, 1e-3, "64->64 db");
  }

  // 256 -> 256 at 1024x2048, forward: im2col in 14-row chunks.
  const Shape xs{1, 256, 1024, 2048}, ws{256, 256, 3, 3};
  const Tensor x = full(xs, 0.5f, Device::kCuda), w = full(ws, 1.0f / 1024, Device::kCuda);
  Tensor y = Tensor::empty(xs, DType::kF32, Device::kCuda), unused;
  ops::set_conv_backend(ConvBackend::kIm2col);
  device::synchronize();
  const size_t before = pool_in_use(pool);
  pool_reset_peak(pool);
  ops::conv2d_forward(x, w, Tensor(), 1, 1, y, unused);
  device::synchronize();
  EXPECT_LE(pool_peak_since_reset(pool) - before, kBound);
  // Exact answers: 0.5 * 256 / 1024 per tap, 9 taps inside, 6 on an edge, 4 in a corner.
  const Tensor yh = to_host(y);
  const float* p = yh.data<float>();
  EXPECT_EQ(p[5 * 2048 + 7], 9 * 0.125f);
  EXPECT_EQ(p[0], 4 * 0.125f);
  EXPECT_EQ(p[5 * 2048], 6 * 0.125f);
  EXPECT_EQ(p[(int64_t{255} * 1024 + 1023) * 2048 + 2047], 4 * 0.125f);  // last channel, corner
  EXPECT_EQ(p[(int64_t{100} * 1024 + 511) * 2048 + 1000], 9 * 0.125f);
}

}  // namespace
}  // namespace lockstep
