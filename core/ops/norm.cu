// CUDA versions of the batch-normalisation ops (ops/norm.hpp), float32.
// Per-channel sums use one block per channel with a double-precision tree
// reduction in shared memory; the rest are elementwise kernels.

#include "core/ops/kernels.cuh"
#include "core/ops/norm.hpp"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

namespace {

__global__ void moments_kernel(const float* a, const float* b, int64_t n, int64_t c, int64_t s,
                               float* out) {
  __shared__ double s0[kThreads];
  __shared__ double s1[kThreads];
  const int64_t ch = blockIdx.x;
  double v0 = 0, v1 = 0;
  const int64_t total = n * s;
  for (int64_t i = threadIdx.x; i < total; i += blockDim.x) {
    const int64_t idx = ((i / s) * c + ch) * s + i % s;
    const double x = a[idx];
    v0 += x;
    v1 += x * static_cast<double>(b ? b[idx] : a[idx]);
  }
  s0[threadIdx.x] = v0;
  s1[threadIdx.x] = v1;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) {
      s0[threadIdx.x] += s0[threadIdx.x + w];
      s1[threadIdx.x] += s1[threadIdx.x + w];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[ch] = static_cast<float>(s0[0]);
    out[c + ch] = static_cast<float>(s1[0]);
  }
}

__global__ void statistics_kernel(const float* sums, int64_t c, double count, double eps,
                                  double momentum, bool use_running, float* rm, float* rv,
                                  float* mean, float* inv_std) {
  const int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (k >= c) return;
  if (use_running) {
    mean[k] = rm[k];
    inv_std[k] = static_cast<float>(1.0 / sqrt(static_cast<double>(rv[k]) + eps));
    return;
  }
  const double mu = static_cast<double>(sums[k]) / count;
  const double var = fmax(0.0, static_cast<double>(sums[c + k]) / count - mu * mu);
  mean[k] = static_cast<float>(mu);
  inv_std[k] = static_cast<float>(1.0 / sqrt(var + eps));
  rm[k] = static_cast<float>((1 - momentum) * rm[k] + momentum * mu);
  rv[k] = static_cast<float>((1 - momentum) * rv[k] + momentum * var * count / (count - 1));
}

__global__ void apply_kernel(const float* x, const float* mean, const float* inv_std,
                             const float* gamma, const float* beta, float* xhat, float* y,
                             int64_t total, int64_t c, int64_t s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t ch = (i / s) % c;
    const float h = (x[i] - mean[ch]) * inv_std[ch];
    xhat[i] = h;
    y[i] = gamma[ch] * h + beta[ch];
  }
}

__global__ void param_grads_kernel(const float* sums, int64_t c, float* dgamma, float* dbeta) {
  const int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (k >= c) return;
  dbeta[k] += sums[k];
  dgamma[k] += sums[c + k];
}

__global__ void input_grad_kernel(const float* dy, const float* xhat, const float* gamma,
                                  const float* inv_std, const float* sums, double count, float* dx,
                                  int64_t total, int64_t c, int64_t s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t ch = (i / s) % c;
    const double mean_dy = static_cast<double>(sums[ch]) / count;
    const double mean_dyh = static_cast<double>(sums[c + ch]) / count;
    const double scale = static_cast<double>(gamma[ch]) * static_cast<double>(inv_std[ch]);
    dx[i] = static_cast<float>(scale * (dy[i] - mean_dy - xhat[i] * mean_dyh));
  }
}

int64_t spatial(const Tensor& x, int64_t c) {
  const int64_t n = x.dim(0);
  return n * c == 0 ? 0 : x.numel() / (n * c);
}

}  // namespace

void channel_moments(const Tensor& a, const Tensor& b, int64_t channels, Tensor& sums) {
  require_f32(a, "channel_moments");
  if (channels == 0) return;
  moments_kernel<<<static_cast<unsigned>(channels), kThreads, 0, current_stream()>>>(
      a.data<float>(), b.defined() ? b.data<float>() : nullptr, a.dim(0), channels,
      spatial(a, channels), sums.data<float>());
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void batchnorm_statistics(const Tensor& sums, double count, double eps, double momentum,
                          bool use_running, Tensor& running_mean, Tensor& running_var, Tensor& mean,
                          Tensor& inv_std) {
  require_f32(sums, "batchnorm_statistics");
  const int64_t c = sums.numel() / 2;
  if (c == 0) return;
  statistics_kernel<<<blocks_for(c, 128), 128, 0, current_stream()>>>(
      sums.data<float>(), c, count, eps, momentum, use_running, running_mean.data<float>(),
      running_var.data<float>(), mean.data<float>(), inv_std.data<float>());
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void batchnorm_apply(const Tensor& x, const Tensor& mean, const Tensor& inv_std,
                     const Tensor& gamma, const Tensor& beta, Tensor& xhat, Tensor& y) {
  require_f32(x, "batchnorm_apply");
  const int64_t total = x.numel(), c = mean.numel();
  if (total == 0) return;
  apply_kernel<<<blocks_for(total, kThreads), kThreads, 0, current_stream()>>>(
      x.data<float>(), mean.data<float>(), inv_std.data<float>(), gamma.data<float>(),
      beta.data<float>(), xhat.data<float>(), y.data<float>(), total, c, spatial(x, c));
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void batchnorm_param_grads(const Tensor& sums, Tensor& acc_dgamma, Tensor& acc_dbeta) {
  require_f32(sums, "batchnorm_param_grads");
  const int64_t c = sums.numel() / 2;
  if (c == 0) return;
  param_grads_kernel<<<blocks_for(c, 128), 128, 0, current_stream()>>>(
      sums.data<float>(), c, acc_dgamma.data<float>(), acc_dbeta.data<float>());
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void batchnorm_input_grad(const Tensor& dy, const Tensor& xhat, const Tensor& gamma,
                          const Tensor& inv_std, const Tensor& sums, double count, Tensor& dx) {
  require_f32(dy, "batchnorm_input_grad");
  const int64_t total = dy.numel(), c = gamma.numel();
  if (total == 0) return;
  input_grad_kernel<<<blocks_for(total, kThreads), kThreads, 0, current_stream()>>>(
      dy.data<float>(), xhat.data<float>(), gamma.data<float>(), inv_std.data<float>(),
      sums.data<float>(), count, dx.data<float>(), total, c, spatial(dy, c));
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

}  // namespace lockstep::ops::cuda
