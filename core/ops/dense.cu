// CUDA dense ops (ops/dense.hpp): GEMM and column sums through cuBLAS, the
// row bias by a kernel; ops/dense.cpp is the reference.

#include <algorithm>
#include <climits>

#include "core/ops/dense.hpp"
#include "core/ops/kernels.cuh"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)
using lockstep::cuda::blas;

namespace {

__global__ void row_bias_kernel(float* y, const float* b, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    y[i] += b[i % cols];
}

__global__ void fill_kernel(float* p, int64_t n, float v) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    p[i] = v;
}

// A device vector of ones of at least n elements (for column sums by GEMV).
const float* ones(int64_t n) {
  static Tensor t;
  if (!t.defined() || t.numel() < n) {
    t = Tensor::empty({std::max<int64_t>(n, 1024)}, DType::kF32, Device::kCuda);
    fill_kernel<<<blocks_for(t.numel(), kThreads), kThreads, 0, current_stream()>>>(f(t), t.numel(),
                                                                                    1.f);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
  return cf(t);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          Tensor& c) {
  require_f32(a, "gemm");
  // cuBLAS takes int dimensions: refuse what would wrap, clearly.
  for (const Tensor* t : {&a, &b, static_cast<const Tensor*>(&c)})
    LOCKSTEP_CHECK(t->dim(0) <= INT_MAX && t->dim(1) <= INT_MAX,
                   "gemm: expected dimensions up to " << INT_MAX << " (cuBLAS's int), got "
                                                      << shape_str(t->shape()));
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
  const int m = static_cast<int>(c.dim(0)), n = static_cast<int>(c.dim(1));
  const int k = static_cast<int>(trans_a ? a.dim(0) : a.dim(1));
  const float fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
  LOCKSTEP_CUBLAS_CHECK(cublasGemmEx(blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &fa, cf(b),
                                     CUDA_R_32F, static_cast<int>(b.dim(1)), cf(a), CUDA_R_32F,
                                     static_cast<int>(a.dim(1)), &fb, f(c), CUDA_R_32F, n,
                                     lockstep::cuda::gemm_compute_type(), CUBLAS_GEMM_DEFAULT));
}

void add_row_bias(Tensor& y, const Tensor& bias) {
  require_f32(y, "add_row_bias");
  const int64_t rows = y.dim(0), cols = bias.numel();
  if (rows * cols == 0) return;
  row_bias_kernel<<<blocks_for(rows * cols, kThreads), kThreads, 0, current_stream()>>>(
      f(y), cf(bias), rows, cols);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void acc_column_sums(const Tensor& dy, Tensor& acc_db) {
  require_f32(dy, "acc_column_sums");
  const int64_t rows = dy.dim(0), cols = acc_db.numel();
  if (rows == 0 || cols == 0) return;
  LOCKSTEP_CHECK(rows <= INT_MAX && cols <= INT_MAX, "acc_column_sums: expected dimensions up to "
                                                         << INT_MAX << " (cuBLAS's int), got "
                                                         << shape_str(dy.shape()));
  // dy (N, O) row-major is (O x N) column-major: db += dy_cm * ones(N).
  const float one = 1.f;
  LOCKSTEP_CUBLAS_CHECK(cublasSgemv(blas(), CUBLAS_OP_N, static_cast<int>(cols),
                                    static_cast<int>(rows), &one, cf(dy), static_cast<int>(cols),
                                    ones(rows), 1, &one, f(acc_db), 1));
}

}  // namespace lockstep::ops::cuda
