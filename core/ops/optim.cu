// CUDA optimizer passes (ops/optim.hpp); ops/optim.cpp is the reference.

#include <cmath>

#include "core/ops/kernels.cuh"
#include "core/ops/optim.hpp"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

namespace {

__global__ void sgd_kernel(float* w, const float* g, float* v, int64_t n, float lr, float mu,
                           float wd, bool nesterov) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const float gi = g[i] + wd * w[i];
    const float vi = mu * v[i] + gi;
    v[i] = vi;
    w[i] -= lr * (nesterov ? gi + mu * vi : vi);
  }
}

__global__ void adam_kernel(float* w, const float* g, float* m, float* v, int64_t n, float lr,
                            float b1, float b2, float eps, float wd, bool decoupled, float c1,
                            float c2) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    float gi = g[i];
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

// Per-block partial sums of squares in double; the host adds the partials.
__global__ void sum_squares_kernel(const float* x, int64_t n, double* partial) {
  __shared__ double s[256];
  double acc = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

}  // namespace

void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, double lr, double momentum,
              double weight_decay, bool nesterov) {
  require_f32(params, "sgd_step");
  const int64_t n = params.numel();
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      f(params), cf(grads), f(velocity), n, static_cast<float>(lr), static_cast<float>(momentum),
      static_cast<float>(weight_decay), nesterov);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool decoupled, int64_t t) {
  require_f32(params, "adam_step");
  const int64_t n = params.numel();
  if (n == 0) return;
  const auto c1 = static_cast<float>(1.0 - std::pow(beta1, static_cast<double>(t)));
  const auto c2 = static_cast<float>(1.0 - std::pow(beta2, static_cast<double>(t)));
  adam_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      f(params), cf(grads), f(m), f(v), n, static_cast<float>(lr), static_cast<float>(beta1),
      static_cast<float>(beta2), static_cast<float>(eps), static_cast<float>(weight_decay),
      decoupled, c1, c2);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

double sum_squares(const Tensor& x) {
  require_f32(x, "sum_squares");
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  constexpr unsigned kBlocks = 256;
  static Tensor partial;
  if (!partial.defined()) partial = Tensor::empty({kBlocks}, DType::kF64, Device::kCuda);
  sum_squares_kernel<<<kBlocks, 256, 0, current_stream()>>>(cf(x), n, partial.data<double>());
  LOCKSTEP_CUDA_CHECK_LAUNCH();
  Tensor host = Tensor::empty({kBlocks}, DType::kF64);
  host.copy_from(partial);  // synchronises
  double s = 0;
  for (unsigned i = 0; i < kBlocks; ++i) s += host.data<double>()[i];
  return s;
}

}  // namespace lockstep::ops::cuda
