#pragma once
// The optimizers' fused passes over a parameter slab, and the squared norm
// gradient clipping needs. Parameters and state are updated in place.
//
// Each op checks its arguments here (ops/optim.cpp) and runs the CPU reference
// (float32 and float64) or the CUDA version (ops/optim.cu, float32; the
// `cuda` block below, which callers never use directly).

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// One fused SGD pass over a slab: g += wd * w; v = momentum * v + g;
/// w -= lr * (nesterov ? g + momentum * v : v)  (PyTorch's convention).
void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, double lr, double momentum,
              double weight_decay, bool nesterov);
/// One fused Adam pass (t = 1-based step): m = b1 m + (1-b1) g;
/// v = b2 v + (1-b2) g^2; w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
/// Weight decay: decoupled (AdamW: w -= lr * wd * w first) or L2 (g += wd * w).
void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool decoupled, int64_t t);
/// Sum of squares of all elements (accumulated in double).
double sum_squares(const Tensor& x);

namespace cuda {
void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, double lr, double momentum,
              double weight_decay, bool nesterov);
void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool decoupled, int64_t t);
double sum_squares(const Tensor& x);
}  // namespace cuda

}  // namespace lockstep::ops
