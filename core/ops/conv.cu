// CUDA versions of the convolution ops (ops/conv.hpp), float32 only, on the
// current stream. Arguments were checked by the dispatch in ops/conv.cpp,
// which is also the specification of every kernel here. The backend is
// chosen here at run time: cuDNN (ops/conv_cudnn.cu) or im2col + cuBLAS, below.
//
// im2col follows "Note: conv chunks" in ops/conv.cpp: im2col into
// col (C*kh*kw, nc*P) for a chunk of nc samples, one cuBLAS GEMM per chunk for
// y, dW and dcol, our kernels for the transposes, the bias and col2im. Chunks
// are as large as im2col_workspace_cap() allows (plan_conv_chunks, ops/conv_plan.hpp):
// the whole batch for small images; for large ones, chunks of output rows of
// one sample, where the GEMMs read and write y and dy in place (leading
// dimension OH*OW) and col2im adds each chunk's part of dx. col2im and both
// pooling backwards gather (one thread per input element, looping over the
// outputs that read it), so they need no atomics and give the same result on
// every run; max-pool backward routes dy exactly where the saved index says,
// so ties resolve as on the CPU. col lives in the GPU's shared workspace
// (core/cuda/workspace.hpp).

#include <algorithm>
#include <climits>

#include "core/cuda/workspace.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/conv_cudnn.hpp"
#include "core/ops/conv_plan.hpp"
#include "core/ops/kernels.cuh"
#include "core/ops/window.cuh"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)
using lockstep::cuda::blas;

namespace {

// col (C*kh*kw, nc*R*OW) from x (nc, C, H, W) for the output rows
// [r0, r0 + R): row (c, i, j), column (n, oh - r0, ow).
__global__ void im2col_kernel(const float* x, float* col, Geom g, int64_t nc, int64_t r0,
                              int64_t rows) {
  const int64_t plane = rows * g.ow, cols = nc * plane;
  LOCKSTEP_GRID_LOOP(idx, g.c * g.kh * g.kw * cols) {
    const int64_t q = idx % cols, r = idx / cols;
    const int64_t n = q / plane, oh = r0 + (q % plane) / g.ow, ow = q % g.ow;
    const int64_t j = r % g.kw, i = (r / g.kw) % g.kh, c = r / (g.kw * g.kh);
    const int64_t ih = oh * g.s - g.p + i, iw = ow * g.s - g.p + j;
    col[idx] =
        ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? x[((n * g.c + c) * g.h + ih) * g.w + iw] : 0.f;
  }
}

// dx (nc, C, H, W) rows [h0, h1) = (or +=, when `accumulate`) the sum of the
// col entries im2col read from each element, for the output rows
// [r0, r0 + R) that col holds.
__global__ void col2im_kernel(const float* col, float* dx, Geom g, int64_t nc, int64_t r0,
                              int64_t rows, int64_t h0, int64_t h1, bool accumulate) {
  const int64_t plane = rows * g.ow, cols = nc * plane, hs = h1 - h0;
  LOCKSTEP_GRID_LOOP(idx, nc * g.c * hs * g.w) {
    const int64_t iw = idx % g.w, ih = h0 + (idx / g.w) % hs;
    const int64_t c = (idx / (g.w * hs)) % g.c, n = idx / (g.w * hs * g.c);
    float sum = 0.f;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t t = ih + g.p - i;
      if (t < 0 || t % g.s != 0 || t / g.s < r0 || t / g.s >= r0 + rows) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t u = iw + g.p - j;
        if (u < 0 || u % g.s != 0 || u / g.s >= g.ow) continue;
        sum +=
            col[((c * g.kh + i) * g.kw + j) * cols + n * plane + (t / g.s - r0) * g.ow + u / g.s];
      }
    }
    float& out = dx[((n * g.c + c) * g.h + ih) * g.w + iw];
    out = accumulate ? out + sum : sum;
  }
}

// y (nc, O, P) = Yt (O, nc*P) transposed, plus bias (O) when given. In place
// when nc == 1 (then every element maps onto itself: adds the bias).
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

// A GEMM dimension as cuBLAS's int; the chunking keeps them small, so one over
// INT_MAX is a bug worth a clear message rather than a silent wrap.
int blas_int(int64_t v, const char* what) {
  LOCKSTEP_CHECK(v >= 0 && v <= INT_MAX, "conv2d (im2col): GEMM " << what << " " << v
                                                                  << " is outside cuBLAS's int "
                                                                     "range [0, "
                                                                  << INT_MAX << "]");
  return static_cast<int>(v);
}

// Row-major C (m, n) = op(A) op(B) + beta C: column-major C^T = op(B)^T op(A)^T.
void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const float one = 1.f;
  LOCKSTEP_CUBLAS_CHECK(
      cublasGemmEx(blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                   blas_int(n, "n"), blas_int(m, "m"), blas_int(k, "k"), &one, b, CUDA_R_32F,
                   blas_int(ldb, "ldb"), a, CUDA_R_32F, blas_int(lda, "lda"), &beta, c, CUDA_R_32F,
                   blas_int(ldc, "ldc"), lockstep::cuda::gemm_compute_type(), CUBLAS_GEMM_DEFAULT));
}

Geom geom_of(const ConvProblem& p) {
  return {p.n, p.c, p.h, p.w, p.o, p.kh, p.kw, p.stride, p.pad, p.oh, p.ow};
}

bool use_cudnn(ConvLayout layout, const char* op) {
  if (conv_backend() == ConvBackend::kCudnn) return true;
  LOCKSTEP_CHECK(layout == ConvLayout::kNchw,
                 op << ": NHWC tensors need the cuDNN backend, but im2col is selected; expected "
                       "NCHW");
  return false;
}

ConvChunkPlan plan_and_reserve(const Geom& g, float*& col) {
  const ConvChunkPlan plan =
      plan_conv_chunks(g.n, g.c * g.kh * g.kw, g.o, g.oh, g.ow, im2col_workspace_cap());
  col = static_cast<float*>(
      lockstep::cuda::shared_workspace(static_cast<size_t>(plan.total) * sizeof(float)));
  return plan;
}

void im2col(const float* x, float* col, const Geom& g, int64_t nc, int64_t r0, int64_t rows) {
  im2col_kernel<<<blocks_for(g.c * g.kh * g.kw * nc * rows * g.ow, kThreads), kThreads, 0,
                  current_stream()>>>(x, col, g, nc, r0, rows);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

// Over the input rows [h0, h1) that the output rows [r0, r0 + rows) read; all
// of them when col holds every output row (rows no window reads get zeros).
void col2im(const float* col, float* dx, const Geom& g, int64_t nc, int64_t r0, int64_t rows,
            bool accumulate) {
  const bool all = r0 == 0 && rows == g.oh;
  const RowRange read = conv_input_rows(r0, rows, g.kh, g.s, g.p, g.h);
  const int64_t h0 = all ? 0 : read.first, h1 = all ? g.h : read.last;
  if (h1 <= h0) return;
  col2im_kernel<<<blocks_for(nc * g.c * (h1 - h0) * g.w, kThreads), kThreads, 0,
                  current_stream()>>>(col, dx, g, nc, r0, rows, h0, h1, accumulate);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void im2col_forward(const Geom& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                    Tensor& y) {
  float* col = nullptr;
  const ConvChunkPlan ch = plan_and_reserve(g, col);
  const int64_t plane = g.oh * g.ow, k = g.c * g.kh * g.kw;
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  for (int64_t n0 = 0; n0 < g.n; n0 += ch.samples) {
    const int64_t nc = std::min(ch.samples, g.n - n0);
    const float* xn = x.data<float>() + n0 * g.c * g.h * g.w;
    float* yn = y.data<float>() + n0 * g.o * plane;
    if (nc == 1) {  // one sample, in chunks of rows: Y (O, rows*OW) is y itself (ld P)
      for (int64_t r0 = 0; r0 < g.oh; r0 += ch.rows) {
        const int64_t rows = std::min(ch.rows, g.oh - r0);
        im2col(xn, col, g, 1, r0, rows);
        gemm_rm(false, false, g.o, rows * g.ow, k, w.data<float>(), k, col, rows * g.ow, 0.f,
                yn + r0 * g.ow, plane);
      }
      if (!pb) continue;
    } else {
      im2col(xn, col, g, nc, 0, g.oh);
      gemm_rm(false, false, g.o, nc * plane, k, w.data<float>(), k, col, nc * plane, 0.f,
              col + ch.col_elems, nc * plane);
    }
    const float* yt = nc == 1 ? yn : col + ch.col_elems;
    rows_to_nchw_kernel<<<blocks_for(nc * g.o * plane, kThreads), kThreads, 0, current_stream()>>>(
        yt, pb, yn, nc, g.o, plane);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
}

void im2col_backward(const Geom& g, const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx,
                     Tensor& acc_dw, Tensor* acc_db) {
  const int64_t plane = g.oh * g.ow, k = g.c * g.kh * g.kw;
  if (acc_db && g.o > 0) {
    bias_grad_kernel<<<static_cast<unsigned>(std::min<int64_t>(g.o, 65535)), kThreads, 0,
                       current_stream()>>>(dy.data<float>(), acc_db->data<float>(), g.n, g.o,
                                           plane);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
  float* col = nullptr;
  const ConvChunkPlan ch = plan_and_reserve(g, col);
  for (int64_t n0 = 0; n0 < g.n; n0 += ch.samples) {
    const int64_t nc = std::min(ch.samples, g.n - n0);
    const float* xn = x.data<float>() + n0 * g.c * g.h * g.w;
    const float* dyn = dy.data<float>() + n0 * g.o * plane;
    float* dxn = dx ? dx->data<float>() + n0 * g.c * g.h * g.w : nullptr;
    if (nc == 1) {  // one sample, in chunks of rows: dY (O, rows*OW) is dy itself (ld P)
      for (int64_t r0 = 0; r0 < g.oh; r0 += ch.rows) {
        const int64_t rows = std::min(ch.rows, g.oh - r0), cols = rows * g.ow;
        im2col(xn, col, g, 1, r0, rows);
        // dW (O, K) += dY (O, cols) col^T
        gemm_rm(false, true, g.o, k, cols, dyn + r0 * g.ow, plane, col, cols, 1.f,
                acc_dw.data<float>(), k);
        if (!dxn) continue;
        // dcol (K, cols) = W^T dY, over col (ordered after the GEMM above by the stream).
        gemm_rm(true, false, k, cols, g.o, w.data<float>(), k, dyn + r0 * g.ow, plane, 0.f, col,
                cols);
        // Input rows shared with the previous chunk already hold its part: add.
        const bool whole = rows == g.oh;
        if (!whole && r0 == 0)
          LOCKSTEP_CUDA_CHECK(
              cudaMemsetAsync(dxn, 0, sizeof(float) * g.c * g.h * g.w, current_stream()));
        col2im(col, dxn, g, 1, r0, rows, !whole);
      }
      continue;
    }
    im2col(xn, col, g, nc, 0, g.oh);
    nchw_to_rows_kernel<<<blocks_for(g.o * nc * plane, kThreads), kThreads, 0, current_stream()>>>(
        dyn, col + ch.col_elems, nc, g.o, plane);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
    const float* dyt = col + ch.col_elems;
    gemm_rm(false, true, g.o, k, nc * plane, dyt, nc * plane, col, nc * plane, 1.f,
            acc_dw.data<float>(), k);
    if (!dxn) continue;
    gemm_rm(true, false, k, nc * plane, g.o, w.data<float>(), k, dyt, nc * plane, 0.f, col,
            nc * plane);
    col2im(col, dxn, g, nc, 0, g.oh, false);
  }
}

}  // namespace

void conv2d_forward(const ConvProblem& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                    Tensor& y) {
  require_f32(x, "conv2d_forward");
  if (use_cudnn(p.layout, "conv2d_forward")) return cudnn_conv2d_forward(p, x, w, bias, y);
  im2col_forward(geom_of(p), x, w, bias, y);
}

void conv2d_backward(const ConvProblem& p, const Tensor& x, const Tensor& w, const Tensor& dy,
                     Tensor* dx, Tensor& acc_dw, Tensor* acc_db) {
  require_f32(x, "conv2d_backward");
  if (use_cudnn(p.layout, "conv2d_backward"))
    return cudnn_conv2d_backward(p, x, w, dy, dx, acc_dw, acc_db);
  im2col_backward(geom_of(p), x, w, dy, dx, acc_dw, acc_db);
}

}  // namespace lockstep::ops::cuda
