// CUDA transposed convolution (ops/conv_transpose.hpp); ops/conv_transpose.cpp
// is the reference. With the cuDNN backend (ops::conv_backend) it is the data
// gradient of the matching conv2d (ops/conv_cudnn.hpp), with cuDNN's
// algorithm choice, precision and workspace rules; otherwise our kernels
// below, which gather: one thread per element they write, summing in a
// fixed order (no atomics).

#include "core/ops/conv_cudnn.hpp"
#include "core/ops/conv_transpose.hpp"
#include "core/ops/kernels.cuh"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

namespace {

struct Geom {
  int64_t n, c, h, w, o, k, s, p, oh, ow;
};

Geom geom(const Tensor& x, const Tensor& w, const Tensor& y, int64_t s, int64_t p) {
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(1), w.dim(2), s, p, y.dim(2), y.dim(3)};
}

// y[n, o, r, col]: the input pixels (ih, iw) with ih s - p + i = r for some i in [0, k).
__global__ void forward_kernel(const float* x, const float* w, const float* bias, float* y,
                               Geom g) {
  LOCKSTEP_GRID_LOOP(idx, g.n * g.o * g.oh * g.ow) {
    const int64_t col = idx % g.ow, r = (idx / g.ow) % g.oh, o = (idx / (g.ow * g.oh)) % g.o,
                  n = idx / (g.ow * g.oh * g.o);
    float sum = bias ? bias[o] : 0.f;
    for (int64_t c = 0; c < g.c; ++c) {
      const float* xc = x + (n * g.c + c) * g.h * g.w;
      const float* wk = w + (c * g.o + o) * g.k * g.k;
      for (int64_t i = 0; i < g.k; ++i) {
        const int64_t t = r + g.p - i;
        if (t < 0 || t % g.s != 0 || t / g.s >= g.h) continue;
        for (int64_t j = 0; j < g.k; ++j) {
          const int64_t u = col + g.p - j;
          if (u < 0 || u % g.s != 0 || u / g.s >= g.w) continue;
          sum += xc[(t / g.s) * g.w + u / g.s] * wk[i * g.k + j];
        }
      }
    }
    y[idx] = sum;
  }
}

__global__ void dx_kernel(const float* dy, const float* w, float* dx, Geom g) {
  LOCKSTEP_GRID_LOOP(idx, g.n * g.c * g.h * g.w) {
    const int64_t iw = idx % g.w, ih = (idx / g.w) % g.h, c = (idx / (g.w * g.h)) % g.c,
                  n = idx / (g.w * g.h * g.c);
    float sum = 0.f;
    for (int64_t o = 0; o < g.o; ++o) {
      const float* go = dy + (n * g.o + o) * g.oh * g.ow;
      const float* wk = w + (c * g.o + o) * g.k * g.k;
      for (int64_t i = 0; i < g.k; ++i) {
        const int64_t r = ih * g.s - g.p + i;
        if (r < 0 || r >= g.oh) continue;
        for (int64_t j = 0; j < g.k; ++j) {
          const int64_t col = iw * g.s - g.p + j;
          if (col >= 0 && col < g.ow) sum += go[r * g.ow + col] * wk[i * g.k + j];
        }
      }
    }
    dx[idx] = sum;
  }
}

__global__ void dw_kernel(const float* x, const float* dy, float* dw, Geom g) {
  LOCKSTEP_GRID_LOOP(idx, g.c * g.o * g.k * g.k) {
    const int64_t j = idx % g.k, i = (idx / g.k) % g.k, o = (idx / (g.k * g.k)) % g.o,
                  c = idx / (g.k * g.k * g.o);
    float sum = 0.f;
    for (int64_t n = 0; n < g.n; ++n) {
      const float* xc = x + (n * g.c + c) * g.h * g.w;
      const float* go = dy + (n * g.o + o) * g.oh * g.ow;
      for (int64_t ih = 0; ih < g.h; ++ih) {
        const int64_t r = ih * g.s - g.p + i;
        if (r < 0 || r >= g.oh) continue;
        for (int64_t iw = 0; iw < g.w; ++iw) {
          const int64_t col = iw * g.s - g.p + j;
          if (col >= 0 && col < g.ow) sum += xc[ih * g.w + iw] * go[r * g.ow + col];
        }
      }
    }
    dw[idx] += sum;
  }
}

__global__ void db_kernel(const float* dy, float* db, Geom g) {
  LOCKSTEP_GRID_LOOP(o, g.o) {
    float sum = 0.f;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t q = 0; q < g.oh * g.ow; ++q) sum += dy[(n * g.o + o) * g.oh * g.ow + q];
    db[o] += sum;
  }
}

// The conv2d whose data gradient this transposed convolution is: its input
// is our output (N, O, OH, OW), its output our input (N, C, H, W), its
// filter our w (C, O, k, k).
ConvProblem as_conv(const Geom& g) {
  return {g.n, g.o, g.oh, g.ow, g.c, g.k, g.k, g.s, g.p, g.h, g.w, ConvLayout::kNchw};
}

}  // namespace

void conv_transpose2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                              int64_t pad, Tensor& y) {
  require_f32(x, "conv_transpose2d_forward");
  const Geom g = geom(x, w, y, stride, pad);
  if (conv_backend() == ConvBackend::kCudnn)
    return cudnn_conv_transpose2d_forward(as_conv(g), x, w, bias, y);
  forward_kernel<<<blocks_for(y.numel(), kThreads), kThreads, 0, current_stream()>>>(
      cf(x), cf(w), bias.defined() ? cf(bias) : nullptr, f(y), g);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void conv_transpose2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                               int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db) {
  require_f32(x, "conv_transpose2d_backward");
  const Geom g = geom(x, w, dy, stride, pad);
  if (conv_backend() == ConvBackend::kCudnn)
    return cudnn_conv_transpose2d_backward(as_conv(g), x, w, dy, dx, acc_dw, acc_db);
  if (dx) {
    dx_kernel<<<blocks_for(dx->numel(), kThreads), kThreads, 0, current_stream()>>>(cf(dy), cf(w),
                                                                                    f(*dx), g);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
  dw_kernel<<<blocks_for(acc_dw.numel(), kThreads), kThreads, 0, current_stream()>>>(cf(x), cf(dy),
                                                                                     f(acc_dw), g);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
  if (acc_db) {
    db_kernel<<<blocks_for(g.o, kThreads), kThreads, 0, current_stream()>>>(cf(dy), f(*acc_db), g);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace lockstep::ops::cuda
