#pragma once
// Internal to the CUDA op files (ops/*.cu): float32 accessors, the dtype check
// every CUDA op runs (the family's dispatch checked the rest), and grid-stride
// element-wise launches on the current stream, each followed by a launch check.

#include "core/cuda/runtime.hpp"
#include "core/tensor.hpp"

namespace lockstep::ops::cuda::detail {

using lockstep::cuda::blocks_for;
using lockstep::cuda::current_stream;

constexpr int kThreads = 256;

// Grid-stride loop over [0, n).
#define LOCKSTEP_GRID_LOOP(i, n)                                                         \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

inline const float* cf(const Tensor& t) {
  return t.data<float>();
}
inline float* f(const Tensor& t) {
  return t.data<float>();
}

inline void require_f32(const Tensor& t, const char* op) {
  LOCKSTEP_CHECK(t.dtype() == DType::kF32,
                 op << ": GPU tensors must be float32, got " << to_string(t.dtype()));
}

template <class F>
__global__ void unary_kernel(const float* x, float* y, int64_t n, F fn) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    y[i] = fn(x[i]);
}

template <class F>
__global__ void binary_kernel(const float* a, const float* b, float* out, int64_t n, F fn) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    out[i] = fn(a[i], b[i]);
}

template <class F>
void unary(const Tensor& x, Tensor& y, const char* op, F fn) {
  require_f32(x, op);
  const int64_t n = x.numel();
  if (n == 0) return;
  unary_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(cf(x), f(y), n, fn);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

template <class F>
void binary(const Tensor& a, const Tensor& b, Tensor& out, const char* op, F fn) {
  require_f32(a, op);
  const int64_t n = a.numel();
  if (n == 0) return;
  binary_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(cf(a), cf(b), f(out), n,
                                                                            fn);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

}  // namespace lockstep::ops::cuda::detail
