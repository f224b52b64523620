// CUDA optimizer passes (ops/optim.hpp); ops/optim.cpp is the reference.
// Every pass reads its per-step values (learning rate, clipping factor, skip
// flag, bias corrections) from the step control block in device memory
// ("Note: the step control block"), so a step needs no host value but the
// inputs uploaded before it, and can be replayed from a CUDA graph.

#include <cmath>

#include "core/ops/kernels.cuh"
#include "core/ops/optim.hpp"
#include "core/ops/step_rule.hpp"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

namespace {

template <class S>
__global__ void prepare_step_kernel(const S* sum_squares, double* c, double beta1, double beta2) {
  ops::detail::decide_step(static_cast<double>(sum_squares[0]), c, beta1, beta2);
}

__global__ void sgd_kernel(float* w, const float* g, float* v, int64_t n, const double* c, float mu,
                           float wd, bool nesterov) {
  if (c[kSlotSkipped] != 0) return;
  const auto lr = static_cast<float>(c[kSlotLr]);
  const auto scale = static_cast<float>(c[kSlotScale]);
  LOCKSTEP_GRID_LOOP(i, n) {
    const float gi = g[i] * scale + wd * w[i];
    const float vi = mu * v[i] + gi;
    v[i] = vi;
    w[i] -= lr * (nesterov ? gi + mu * vi : vi);
  }
}

__global__ void adam_kernel(float* w, const float* g, float* m, float* v, int64_t n,
                            const double* c, float b1, float b2, float eps, float wd,
                            bool decoupled) {
  if (c[kSlotSkipped] != 0) return;
  const auto lr = static_cast<float>(c[kSlotLr]);
  const auto scale = static_cast<float>(c[kSlotScale]);
  const auto c1 = static_cast<float>(c[kSlotBias1]);
  const auto c2 = static_cast<float>(c[kSlotBias2]);
  LOCKSTEP_GRID_LOOP(i, n) {
    float gi = g[i] * scale;
    if (decoupled) {
      w[i] -= lr * wd * w[i];
    } else {
      gi += wd * w[i];
    }
    const float mi = b1 * m[i] + (1.f - b1) * gi;
    const float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + eps);
  }
}

// Per-block partial sums of squares in double, then one thread adds the
// partials in block order: the same sum on every run.
constexpr unsigned kSumBlocks = 256;
constexpr int kSumThreads = 256;

__global__ void sum_squares_kernel(const float* x, int64_t n, double* partial) {
  __shared__ double s[kSumThreads];
  double acc = 0;
  LOCKSTEP_GRID_LOOP(i, n) acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

template <class S>
__global__ void sum_partials_kernel(const double* partial, unsigned count, S* out) {
  double s = 0;
  for (unsigned i = 0; i < count; ++i) s += partial[i];
  out[0] = static_cast<S>(s);
}

__global__ void restore_kernel(float* dst, const float* src, int64_t n, const double* c) {
  if (c[kSlotSkipped] == 0) return;
  LOCKSTEP_GRID_LOOP(i, n) dst[i] = src[i];
}

__global__ void poison_kernel(float* x, const double* flag) {
  if (!isfinite(flag[0])) x[0] = __int_as_float(0x7fc00000);  // quiet NaN
}

}  // namespace

void prepare_step(const Tensor& sum_squares, Tensor& control, double beta1, double beta2) {
  if (sum_squares.dtype() == DType::kF64) {
    prepare_step_kernel<<<1, 1, 0, current_stream()>>>(sum_squares.data<double>(),
                                                       control.data<double>(), beta1, beta2);
  } else {
    prepare_step_kernel<<<1, 1, 0, current_stream()>>>(sum_squares.data<float>(),
                                                       control.data<double>(), beta1, beta2);
  }
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, const Tensor& control,
              double momentum, double weight_decay, bool nesterov) {
  require_f32(params, "sgd_step");
  const int64_t n = params.numel();
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      f(params), cf(grads), f(velocity), n, control.data<double>(), static_cast<float>(momentum),
      static_cast<float>(weight_decay), nesterov);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& control,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
  require_f32(params, "adam_step");
  const int64_t n = params.numel();
  if (n == 0) return;
  adam_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      f(params), cf(grads), f(m), f(v), n, control.data<double>(), static_cast<float>(beta1),
      static_cast<float>(beta2), static_cast<float>(eps), static_cast<float>(weight_decay),
      decoupled);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void sum_squares(const Tensor& x, Tensor& out, Tensor& scratch) {
  require_f32(x, "sum_squares");
  ensure_shape(scratch, {kSumBlocks}, DType::kF64, Device::kCuda);  // once
  const int64_t n = x.numel();
  if (n == 0) {
    scratch.zero();
  } else {
    sum_squares_kernel<<<kSumBlocks, kSumThreads, 0, current_stream()>>>(cf(x), n,
                                                                         scratch.data<double>());
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
  if (out.dtype() == DType::kF64) {
    sum_partials_kernel<<<1, 1, 0, current_stream()>>>(scratch.data<double>(), kSumBlocks,
                                                       out.data<double>());
  } else {
    sum_partials_kernel<<<1, 1, 0, current_stream()>>>(scratch.data<double>(), kSumBlocks,
                                                       out.data<float>());
  }
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void restore_if_skipped(Tensor& dst, const Tensor& src, const Tensor& control) {
  require_f32(dst, "restore_if_skipped");
  const int64_t n = dst.numel();
  if (n == 0) return;
  restore_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      f(dst), cf(src), n, control.data<double>());
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void poison_if_nonfinite(Tensor& x, const Tensor& flag, int64_t slot) {
  require_f32(x, "poison_if_nonfinite");
  poison_kernel<<<1, 1, 0, current_stream()>>>(f(x), flag.data<double>() + slot);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

}  // namespace lockstep::ops::cuda
