// CUDA versions of the pooling ops (ops/pool.hpp), float32 only, on the
// current stream; ops/pool.cpp is the reference. Both pooling backwards gather
// (one thread per input element, looping over the outputs that read it), so
// they need no atomics and give the same result on every run; max-pool
// backward routes dy exactly where the saved index says, so ties resolve as on
// the CPU.

#include "core/ops/conv.hpp"
#include "core/ops/kernels.cuh"
#include "core/ops/pool.hpp"
#include "core/ops/window.cuh"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

// ---- Pooling -------------------------------------------------------------------------

namespace {

Geom pool_geom(const Shape& in, int64_t k, int64_t stride, int64_t pad) {
  return {in[0],
          in[1],
          in[2],
          in[3],
          in[1],
          k,
          k,
          stride,
          pad,
          conv_out_size(in[2], k, stride, pad),
          conv_out_size(in[3], k, stride, pad)};
}

// One thread per output; the first maximum in row-major window order wins, a
// NaN wins over numbers (v != v is isnan without fast-math).
__global__ void maxpool_forward_kernel(const float* x, float* y, int32_t* index, Geom g) {
  LOCKSTEP_GRID_LOOP(idx, g.n * g.c * g.oh * g.ow) {
    const int64_t ow = idx % g.ow, oh = (idx / g.ow) % g.oh, plane = idx / (g.ow * g.oh);
    const float* in = x + plane * g.h * g.w;
    int64_t best = -1;
    float bv = 0.f;
    for (int64_t i = oh * g.s - g.p; i < oh * g.s - g.p + g.kh; ++i) {
      if (i < 0 || i >= g.h) continue;
      for (int64_t j = ow * g.s - g.p; j < ow * g.s - g.p + g.kw; ++j) {
        if (j < 0 || j >= g.w) continue;
        const float v = in[i * g.w + j];
        if (best < 0 || v > bv || (v != v && bv == bv)) {
          best = i * g.w + j;
          bv = v;
        }
      }
    }
    y[idx] = bv;
    index[idx] = static_cast<int32_t>(best);
  }
}

// [lo, hi): the outputs along one axis whose window covers input position i.
__device__ void covering(int64_t i, int64_t k, int64_t s, int64_t p, int64_t out, int64_t& lo,
                         int64_t& hi) {
  lo = i + p < k ? 0 : (i + p - k) / s + 1;
  hi = (i + p) / s + 1 < out ? (i + p) / s + 1 : out;
}

__global__ void maxpool_backward_kernel(const float* dy, const int32_t* index, float* dx, Geom g) {
  LOCKSTEP_GRID_LOOP(idx, g.n * g.c * g.h * g.w) {
    const int64_t w = idx % g.w, h = (idx / g.w) % g.h, plane = idx / (g.w * g.h);
    int64_t oh0, oh1, ow0, ow1;
    covering(h, g.kh, g.s, g.p, g.oh, oh0, oh1);
    covering(w, g.kw, g.s, g.p, g.ow, ow0, ow1);
    float sum = 0.f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t o = (plane * g.oh + oh) * g.ow + ow;
        if (index[o] == h * g.w + w) sum += dy[o];
      }
    dx[idx] = sum;
  }
}

__global__ void avgpool_forward_kernel(const float* x, float* y, Geom g) {
  const float area = static_cast<float>(g.kh * g.kw);
  LOCKSTEP_GRID_LOOP(idx, g.n * g.c * g.oh * g.ow) {
    const int64_t ow = idx % g.ow, oh = (idx / g.ow) % g.oh, plane = idx / (g.ow * g.oh);
    const float* in = x + plane * g.h * g.w;
    float sum = 0.f;
    const int64_t i0 = oh * g.s - g.p, j0 = ow * g.s - g.p;
    for (int64_t i = i0 < 0 ? 0 : i0; i < i0 + g.kh && i < g.h; ++i)
      for (int64_t j = j0 < 0 ? 0 : j0; j < j0 + g.kw && j < g.w; ++j) sum += in[i * g.w + j];
    y[idx] = sum / area;
  }
}

__global__ void avgpool_backward_kernel(const float* dy, float* dx, Geom g) {
  const float area = static_cast<float>(g.kh * g.kw);
  LOCKSTEP_GRID_LOOP(idx, g.n * g.c * g.h * g.w) {
    const int64_t w = idx % g.w, h = (idx / g.w) % g.h, plane = idx / (g.w * g.h);
    int64_t oh0, oh1, ow0, ow1;
    covering(h, g.kh, g.s, g.p, g.oh, oh0, oh1);
    covering(w, g.kw, g.s, g.p, g.ow, ow0, ow1);
    float sum = 0.f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) sum += dy[(plane * g.oh + oh) * g.ow + ow];
    dx[idx] = sum / area;
  }
}

// One warp per plane: y[plane] = mean of its hw elements.
__global__ void gap_forward_kernel(const float* x, float* y, int64_t planes, int64_t hw) {
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);
  for (int64_t plane = blockIdx.x * static_cast<int64_t>(blockDim.x / 32) + threadIdx.x / 32;
       plane < planes; plane += warps) {
    float sum = 0.f;
    for (int64_t q = lane; q < hw; q += 32) sum += x[plane * hw + q];
    for (int offset = 16; offset > 0; offset /= 2)
      sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) y[plane] = sum / static_cast<float>(hw);
  }
}

__global__ void gap_backward_kernel(const float* dy, float* dx, int64_t planes, int64_t hw) {
  const float inv = 1.f / static_cast<float>(hw);
  LOCKSTEP_GRID_LOOP(idx, planes * hw) {
    dx[idx] = dy[idx / hw] * inv;
  }
}

}  // namespace

void maxpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad, Tensor& y,
                       Tensor& index) {
  require_f32(x, "maxpool2d_forward");
  const Geom g = pool_geom(x.shape(), kernel, stride, pad);
  if (y.numel() == 0) return;
  maxpool_forward_kernel<<<blocks_for(y.numel(), kThreads), kThreads, 0, current_stream()>>>(
      x.data<float>(), y.data<float>(), index.data<int32_t>(), g);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void maxpool2d_backward(const Tensor& dy, const Tensor& index, int64_t kernel, int64_t stride,
                        int64_t pad, Tensor& dx) {
  require_f32(dx, "maxpool2d_backward");
  const Geom g = pool_geom(dx.shape(), kernel, stride, pad);
  if (dx.numel() == 0) return;
  maxpool_backward_kernel<<<blocks_for(dx.numel(), kThreads), kThreads, 0, current_stream()>>>(
      dy.data<float>(), index.data<int32_t>(), dx.data<float>(), g);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void avgpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad, Tensor& y) {
  require_f32(x, "avgpool2d_forward");
  const Geom g = pool_geom(x.shape(), kernel, stride, pad);
  if (y.numel() == 0) return;
  avgpool_forward_kernel<<<blocks_for(y.numel(), kThreads), kThreads, 0, current_stream()>>>(
      x.data<float>(), y.data<float>(), g);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void avgpool2d_backward(const Tensor& dy, int64_t kernel, int64_t stride, int64_t pad, Tensor& dx) {
  require_f32(dx, "avgpool2d_backward");
  const Geom g = pool_geom(dx.shape(), kernel, stride, pad);
  if (dx.numel() == 0) return;
  avgpool_backward_kernel<<<blocks_for(dx.numel(), kThreads), kThreads, 0, current_stream()>>>(
      dy.data<float>(), dx.data<float>(), g);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void global_avg_pool_forward(const Tensor& x, Tensor& y) {
  require_f32(x, "global_avg_pool_forward");
  const int64_t planes = x.dim(0) * x.dim(1), hw = x.dim(2) * x.dim(3);
  if (planes == 0) return;
  gap_forward_kernel<<<blocks_for(planes * 32, kThreads), kThreads, 0, current_stream()>>>(
      x.data<float>(), y.data<float>(), planes, hw);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  require_f32(dx, "global_avg_pool_backward");
  const int64_t planes = dx.dim(0) * dx.dim(1), hw = dx.dim(2) * dx.dim(3);
  if (planes == 0) return;
  gap_backward_kernel<<<blocks_for(planes * hw, kThreads), kThreads, 0, current_stream()>>>(
      dy.data<float>(), dx.data<float>(), planes, hw);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

}  // namespace lockstep::ops::cuda
