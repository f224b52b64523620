// CUDA versions of the convolution and pooling ops (core/ops_conv.hpp), float32
// only, on the current stream. Arguments were checked by the dispatch in
// ops_conv_cpu.cpp, which is also the specification of every kernel here.
//
// Convolution follows "Note: conv chunks" in ops_conv_cpu.cpp: im2col into
// col (C*kh*kw, nc*P) for a chunk of nc samples, one cuBLAS GEMM per chunk for
// y, dW and dcol, our kernels for the transposes, the bias and col2im. Chunks
// are as large as kWorkspaceCap allows (the whole batch for small images).
// col2im and both pooling backwards gather (one thread per input element,
// looping over the outputs that read it), so they need no atomics and give
// the same result on every run; max-pool backward routes dy exactly where the
// saved index says, so ties resolve as on the CPU.

#include <algorithm>

#include "core/cuda/runtime.hpp"
#include "core/ops_conv.hpp"

namespace lockstep::ops::cuda {

using lockstep::cuda::blas;
using lockstep::cuda::blocks_for;
using lockstep::cuda::current_stream;

namespace {

constexpr int kThreads = 256;
// The most workspace elements one conv call takes (256 MB in float32).
constexpr int64_t kWorkspaceCap = int64_t{1} << 26;

void require_f32(const Tensor& t, const char* op) {
  LOCKSTEP_CHECK(t.dtype() == DType::kF32,
                 op << ": GPU tensors must be float32, got " << to_string(t.dtype()));
}

// Grid-stride loop over [0, n).
#define LOCKSTEP_GRID_LOOP(i, n)                                                         \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

struct Geom {
  int64_t n, c, h, w;  // input (N, C, H, W)
  int64_t o, kh, kw;   // weights (O, C, kh, kw); for pooling o = c and kh = kw = k
  int64_t s, p;        // stride, padding
  int64_t oh, ow;      // output plane
};

Geom conv_geom(const Tensor& x, const Tensor& w, int64_t stride, int64_t pad) {
  return {x.dim(0),
          x.dim(1),
          x.dim(2),
          x.dim(3),
          w.dim(0),
          w.dim(2),
          w.dim(3),
          stride,
          pad,
          conv_out_size(x.dim(2), w.dim(2), stride, pad),
          conv_out_size(x.dim(3), w.dim(3), stride, pad)};
}

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

// col (C*kh*kw, nc*P) from x (nc, C, H, W): row (c, i, j), column (n, oh, ow).
__global__ void im2col_kernel(const float* x, float* col, Geom g, int64_t nc) {
  const int64_t plane = g.oh * g.ow, cols = nc * plane;
  LOCKSTEP_GRID_LOOP(idx, g.c * g.kh * g.kw * cols) {
    const int64_t q = idx % cols, r = idx / cols;
    const int64_t n = q / plane, oh = (q % plane) / g.ow, ow = q % g.ow;
    const int64_t j = r % g.kw, i = (r / g.kw) % g.kh, c = r / (g.kw * g.kh);
    const int64_t ih = oh * g.s - g.p + i, iw = ow * g.s - g.p + j;
    col[idx] =
        ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? x[((n * g.c + c) * g.h + ih) * g.w + iw] : 0.f;
  }
}

// dx (nc, C, H, W) = sum of the col entries im2col read from each element.
__global__ void col2im_kernel(const float* col, float* dx, Geom g, int64_t nc) {
  const int64_t plane = g.oh * g.ow, cols = nc * plane;
  LOCKSTEP_GRID_LOOP(idx, nc * g.c * g.h * g.w) {
    const int64_t iw = idx % g.w, ih = (idx / g.w) % g.h;
    const int64_t c = (idx / (g.w * g.h)) % g.c, n = idx / (g.w * g.h * g.c);
    float sum = 0.f;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t t = ih + g.p - i;
      if (t < 0 || t % g.s != 0 || t / g.s >= g.oh) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t u = iw + g.p - j;
        if (u < 0 || u % g.s != 0 || u / g.s >= g.ow) continue;
        sum += col[((c * g.kh + i) * g.kw + j) * cols + n * plane + (t / g.s) * g.ow + u / g.s];
      }
    }
    dx[idx] = sum;
  }
}

// y (nc, O, P) = Yt (O, nc*P) transposed, plus bias (O) when given. In place
// when nc == 1 (then every element maps onto itself).
__global__ void rows_to_nchw_kernel(const float* yt, const float* bias, float* y, int64_t nc,
                                    int64_t o, int64_t plane) {
  LOCKSTEP_GRID_LOOP(idx, nc * o * plane) {
    const int64_t q = idx % plane, oo = (idx / plane) % o, n = idx / (plane * o);
    y[idx] = yt[oo * nc * plane + n * plane + q] + (bias ? bias[oo] : 0.f);
  }
}

// dYt (O, nc*P) = dy (nc, O, P) transposed.
__global__ void nchw_to_rows_kernel(const float* dy, float* dyt, int64_t nc, int64_t o,
                                    int64_t plane) {
  const int64_t cols = nc * plane;
  LOCKSTEP_GRID_LOOP(idx, o * cols) {
    const int64_t oo = idx / cols, n = (idx % cols) / plane, q = idx % plane;
    dyt[idx] = dy[(n * o + oo) * plane + q];
  }
}

// db[oo] += sum over n and the plane of dy (N, O, P); one block per channel.
__global__ void bias_grad_kernel(const float* dy, float* db, int64_t n, int64_t o, int64_t plane) {
  __shared__ float partial[kThreads];
  for (int64_t oo = blockIdx.x; oo < o; oo += gridDim.x) {
    float sum = 0.f;
    for (int64_t idx = threadIdx.x; idx < n * plane; idx += blockDim.x)
      sum += dy[((idx / plane) * o + oo) * plane + idx % plane];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int stride = kThreads / 2; stride > 0; stride /= 2) {
      if (static_cast<int>(threadIdx.x) < stride)
        partial[threadIdx.x] += partial[threadIdx.x + stride];
      __syncthreads();
    }
    if (threadIdx.x == 0) db[oo] += partial[0];
    __syncthreads();  // partial is reused by the next channel
  }
}

// Row-major C (m, n) = op(A) op(B) + beta C: column-major C^T = op(B)^T op(A)^T.
void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const float one = 1.f;
  LOCKSTEP_CUBLAS_CHECK(cublasGemmEx(
      blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
      static_cast<int>(m), static_cast<int>(k), &one, b, CUDA_R_32F, static_cast<int>(ldb), a,
      CUDA_R_32F, static_cast<int>(lda), &beta, c, CUDA_R_32F, static_cast<int>(ldc),
      lockstep::cuda::gemm_compute_type(), CUBLAS_GEMM_DEFAULT));
}

// Samples per chunk and the workspace they need: col, then Yt / dYt.
struct Chunking {
  int64_t samples;
  int64_t col_elems;  // rounded up to keep Yt 256-byte aligned
  int64_t total;
};

Chunking chunking(const Geom& g, Tensor& workspace) {
  const int64_t plane = g.oh * g.ow, k = g.c * g.kh * g.kw;
  const int64_t per_sample = (k + g.o) * plane;
  const int64_t samples = std::clamp<int64_t>(kWorkspaceCap / per_sample, 1, g.n);
  const int64_t col_elems = (k * samples * plane + 63) / 64 * 64;
  const Chunking ch{samples, col_elems, col_elems + g.o * samples * plane};
  if (!workspace.defined() || workspace.numel() < ch.total || workspace.dtype() != DType::kF32 ||
      workspace.device() != Device::kCuda)
    workspace = Tensor::empty({ch.total}, DType::kF32, Device::kCuda);
  return ch;
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                    int64_t pad, Tensor& y, Tensor& workspace) {
  require_f32(x, "conv2d_forward");
  const Geom g = conv_geom(x, w, stride, pad);
  const Chunking ch = chunking(g, workspace);
  const int64_t plane = g.oh * g.ow, k = g.c * g.kh * g.kw;
  float* col = workspace.data<float>();
  for (int64_t n0 = 0; n0 < g.n; n0 += ch.samples) {
    const int64_t nc = std::min(ch.samples, g.n - n0);
    float* yn = y.data<float>() + n0 * g.o * plane;
    float* yt = nc == 1 ? yn : col + ch.col_elems;  // one sample: Yt is y itself
    im2col_kernel<<<blocks_for(k * nc * plane, kThreads), kThreads, 0, current_stream()>>>(
        x.data<float>() + n0 * g.c * g.h * g.w, col, g, nc);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
    gemm_rm(false, false, g.o, nc * plane, k, w.data<float>(), k, col, nc * plane, 0.f, yt,
            nc * plane);
    if (nc == 1 && !bias.defined()) continue;
    rows_to_nchw_kernel<<<blocks_for(nc * g.o * plane, kThreads), kThreads, 0, current_stream()>>>(
        yt, bias.defined() ? bias.data<float>() : nullptr, yn, nc, g.o, plane);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                     int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db, Tensor& workspace) {
  require_f32(x, "conv2d_backward");
  const Geom g = conv_geom(x, w, stride, pad);
  const Chunking ch = chunking(g, workspace);
  const int64_t plane = g.oh * g.ow, k = g.c * g.kh * g.kw;
  if (acc_db && g.o > 0) {
    bias_grad_kernel<<<static_cast<unsigned>(std::min<int64_t>(g.o, 65535)), kThreads, 0,
                       current_stream()>>>(dy.data<float>(), acc_db->data<float>(), g.n, g.o,
                                           plane);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
  float* col = workspace.data<float>();
  for (int64_t n0 = 0; n0 < g.n; n0 += ch.samples) {
    const int64_t nc = std::min(ch.samples, g.n - n0);
    const float* dyt = dy.data<float>() + n0 * g.o * plane;  // one sample: dYt is dy itself
    im2col_kernel<<<blocks_for(k * nc * plane, kThreads), kThreads, 0, current_stream()>>>(
        x.data<float>() + n0 * g.c * g.h * g.w, col, g, nc);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
    if (nc > 1) {
      nchw_to_rows_kernel<<<blocks_for(g.o * nc * plane, kThreads), kThreads, 0,
                            current_stream()>>>(dyt, col + ch.col_elems, nc, g.o, plane);
      LOCKSTEP_CUDA_CHECK_LAUNCH();
      dyt = col + ch.col_elems;
    }
    // dW (O, K) += dYt (O, nc*P) col^T
    gemm_rm(false, true, g.o, k, nc * plane, dyt, nc * plane, col, nc * plane, 1.f,
            acc_dw.data<float>(), k);
    if (!dx) continue;
    // dcol (K, nc*P) = W^T dYt, over col (the stream orders it after the GEMM above).
    gemm_rm(true, false, k, nc * plane, g.o, w.data<float>(), k, dyt, nc * plane, 0.f, col,
            nc * plane);
    col2im_kernel<<<blocks_for(nc * g.c * g.h * g.w, kThreads), kThreads, 0, current_stream()>>>(
        col, dx->data<float>() + n0 * g.c * g.h * g.w, g, nc);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
}

// ---- Pooling -------------------------------------------------------------------------

namespace {

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

#undef LOCKSTEP_GRID_LOOP

}  // namespace lockstep::ops::cuda
