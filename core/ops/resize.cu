// CUDA upsampling and channel joins (ops/resize.hpp); ops/resize.cpp is the
// reference. Backward gathers: each thread owns one dx element and sums the
// output pixels that read it, so no atomics and a fixed summation order.

#include "core/ops/kernels.cuh"
#include "core/ops/resize.hpp"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

namespace {

struct Tap {
  int64_t i0, i1;
  double w1;
};

__device__ Tap bilinear_tap(int64_t o, int64_t in, int64_t scale) {
  const double src = fmax(0.0, (static_cast<double>(o) + 0.5) / static_cast<double>(scale) - 0.5);
  int64_t i0 = static_cast<int64_t>(src);
  if (i0 > in - 1) i0 = in - 1;
  const int64_t i1 = i0 + 1 < in ? i0 + 1 : in - 1;
  return {i0, i1, src - static_cast<double>(i0)};
}

// The weight input index a gets from output index o along one axis.
__device__ double tap_weight(const Tap& t, int64_t a) {
  return (t.i0 == a ? 1.0 - t.w1 : 0.0) + (t.i1 == a ? t.w1 : 0.0);
}

__global__ void upsample_kernel(const float* x, float* y, int64_t total, int64_t h, int64_t w,
                                int64_t s, bool bilinear) {
  const int64_t oh = h * s, ow = w * s;
  LOCKSTEP_GRID_LOOP(idx, total) {
    const int64_t j = idx % ow, i = (idx / ow) % oh, p = idx / (oh * ow);
    const float* in = x + p * h * w;
    if (!bilinear) {
      y[idx] = in[(i / s) * w + j / s];
      continue;
    }
    const Tap r = bilinear_tap(i, h, s), c = bilinear_tap(j, w, s);
    const double top = (1 - c.w1) * in[r.i0 * w + c.i0] + c.w1 * in[r.i0 * w + c.i1];
    const double bottom = (1 - c.w1) * in[r.i1 * w + c.i0] + c.w1 * in[r.i1 * w + c.i1];
    y[idx] = static_cast<float>((1 - r.w1) * top + r.w1 * bottom);
  }
}

__global__ void upsample_backward_kernel(const float* dy, float* dx, int64_t total, int64_t h,
                                         int64_t w, int64_t s, bool bilinear) {
  const int64_t oh = h * s, ow = w * s;
  LOCKSTEP_GRID_LOOP(idx, total) {
    const int64_t b = idx % w, a = (idx / w) % h, p = idx / (h * w);
    const float* g = dy + p * oh * ow;
    double sum = 0.0;
    if (!bilinear) {
      for (int64_t i = a * s; i < (a + 1) * s; ++i)
        for (int64_t j = b * s; j < (b + 1) * s; ++j) sum += g[i * ow + j];
    } else {
      const int64_t i0 = a > 0 ? (a - 1) * s : 0, i1 = (a + 2) * s < oh ? (a + 2) * s : oh;
      const int64_t j0 = b > 0 ? (b - 1) * s : 0, j1 = (b + 2) * s < ow ? (b + 2) * s : ow;
      for (int64_t i = i0; i < i1; ++i) {
        const double wr = tap_weight(bilinear_tap(i, h, s), a);
        if (wr == 0.0) continue;
        for (int64_t j = j0; j < j1; ++j)
          sum += wr * tap_weight(bilinear_tap(j, w, s), b) * g[i * ow + j];
      }
    }
    dx[idx] = static_cast<float>(sum);
  }
}

// y (N, Ca + Cb, P) <-> a (N, Ca, P), b (N, Cb, P): one thread per y element.
__global__ void concat_kernel(float* a, float* b, float* y, int64_t total, int64_t fa, int64_t fb,
                              bool split) {
  LOCKSTEP_GRID_LOOP(idx, total) {
    const int64_t s = idx / (fa + fb), q = idx % (fa + fb);
    float* part = q < fa ? a + s * fa + q : (b ? b + s * fb + (q - fa) : nullptr);
    if (!part) continue;
    if (split) {
      *part = y[idx];
    } else {
      y[idx] = *part;
    }
  }
}

}  // namespace

void upsample_forward(const Tensor& x, int64_t scale, UpsampleMode mode, Tensor& y) {
  require_f32(x, "upsample_forward");
  const int64_t n = y.numel();
  upsample_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      cf(x), f(y), n, x.dim(2), x.dim(3), scale, mode == UpsampleMode::kBilinear);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void upsample_backward(const Tensor& dy, int64_t scale, UpsampleMode mode, Tensor& dx) {
  require_f32(dy, "upsample_backward");
  const int64_t n = dx.numel();
  upsample_backward_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      cf(dy), f(dx), n, dx.dim(2), dx.dim(3), scale, mode == UpsampleMode::kBilinear);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void concat_channels(const Tensor& a, const Tensor& b, Tensor& y) {
  require_f32(y, "concat_channels");
  const int64_t n = y.numel(), fa = a.numel() / y.dim(0), fb = b.numel() / y.dim(0);
  concat_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(f(a), f(b), f(y), n, fa,
                                                                            fb, false);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void split_channels(const Tensor& dy, Tensor& da, Tensor* db) {
  require_f32(dy, "split_channels");
  const int64_t n = dy.numel(), fa = da.numel() / dy.dim(0), fb = n / dy.dim(0) - fa;
  concat_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      f(da), db ? f(*db) : nullptr, f(dy), n, fa, fb, true);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

}  // namespace lockstep::ops::cuda
