// CUDA versions of the convolution ops (ops/conv.hpp), float32 only, on the
// current stream. Arguments were checked by the dispatch in ops/conv.cpp,
// which is also the specification of every kernel here.
//
// Convolution follows "Note: conv chunks" in ops/conv.cpp: im2col into
// col (C*kh*kw, nc*P) for a chunk of nc samples, one cuBLAS GEMM per chunk for
// y, dW and dcol, our kernels for the transposes, the bias and col2im. Chunks
// are as large as kWorkspaceCap allows (the whole batch for small images).
// col2im and both pooling backwards gather (one thread per input element,
// looping over the outputs that read it), so they need no atomics and give
// the same result on every run; max-pool backward routes dy exactly where the
// saved index says, so ties resolve as on the CPU.

#include <algorithm>

#include "core/ops/conv.hpp"
#include "core/ops/kernels.cuh"
#include "core/ops/window.cuh"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)
using lockstep::cuda::blas;

namespace {

// The most workspace elements one conv call takes (256 MB in float32).
constexpr int64_t kWorkspaceCap = int64_t{1} << 26;

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

}  // namespace lockstep::ops::cuda
