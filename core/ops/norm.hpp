#pragma once
// Batch-normalisation ops (CPU reference in ops/norm.cpp, CUDA in ops/norm.cu). Activations are
// viewed as (N, C, S): C channels (features of a dense output, or channels of an image) and S = H*W
// spatial positions (1 for dense outputs). Statistics are per channel over N and S. `sums` tensors
// are (2, C) of the activation's dtype and device, so that they can be summed across ranks for
// synchronised BatchNorm.

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// sums[0, c] = sum of a, sums[1, c] = sum of a*b (b = a when b is undefined). Overwrites.
void channel_moments(const Tensor& a, const Tensor& b, int64_t channels, Tensor& sums);

/// From sums of x and x^2 over `count` values per channel: mean and
/// inv_std = 1/sqrt(var + eps) (biased variance), and the running statistics
/// updated as r = (1 - momentum) r + momentum * batch (unbiased variance).
/// With `use_running` it only derives mean / inv_std from the running values.
void batchnorm_statistics(const Tensor& sums, double count, double eps, double momentum,
                          bool use_running, Tensor& running_mean, Tensor& running_var, Tensor& mean,
                          Tensor& inv_std);

/// xhat = (x - mean) inv_std, y = gamma xhat + beta. Overwrites xhat and y.
void batchnorm_apply(const Tensor& x, const Tensor& mean, const Tensor& inv_std,
                     const Tensor& gamma, const Tensor& beta, Tensor& xhat, Tensor& y);

/// acc_dbeta += sums[0], acc_dgamma += sums[1] (sums of dy and dy*xhat).
void batchnorm_param_grads(const Tensor& sums, Tensor& acc_dgamma, Tensor& acc_dbeta);

/// dx = gamma inv_std (dy - sums[0]/count - xhat sums[1]/count). Overwrites dx.
void batchnorm_input_grad(const Tensor& dy, const Tensor& xhat, const Tensor& gamma,
                          const Tensor& inv_std, const Tensor& sums, double count, Tensor& dx);

namespace cuda {
void channel_moments(const Tensor& a, const Tensor& b, int64_t channels, Tensor& sums);
void batchnorm_statistics(const Tensor& sums, double count, double eps, double momentum,
                          bool use_running, Tensor& running_mean, Tensor& running_var, Tensor& mean,
                          Tensor& inv_std);
void batchnorm_apply(const Tensor& x, const Tensor& mean, const Tensor& inv_std,
                     const Tensor& gamma, const Tensor& beta, Tensor& xhat, Tensor& y);
void batchnorm_param_grads(const Tensor& sums, Tensor& acc_dgamma, Tensor& acc_dbeta);
void batchnorm_input_grad(const Tensor& dy, const Tensor& xhat, const Tensor& gamma,
                          const Tensor& inv_std, const Tensor& sums, double count, Tensor& dx);
}  // namespace cuda

}  // namespace lockstep::ops
