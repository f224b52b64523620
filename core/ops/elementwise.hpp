#pragma once
// Element-wise ops: inverted dropout, products, sums (residual connections),
// scaling. Outputs are overwritten (`scale` works in place).
//
// Each op checks its arguments here (ops/elementwise.cpp) and runs the CPU reference
// (float32 and float64) or the CUDA version (ops/elementwise.cu, float32; the
// `cuda` block below, which callers never use directly).

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// Inverted dropout: mask[i] = (u(key, i) >= p) / (1 - p), y = x * mask.
void dropout_forward(const Tensor& x, double p, uint64_t key, Tensor& mask, Tensor& y);
/// dx = dy * mask (also used as plain elementwise product).
void multiply(const Tensor& a, const Tensor& b, Tensor& out);
/// out = a + b (residual connections).
void add(const Tensor& a, const Tensor& b, Tensor& out);
/// x *= alpha, in place.
void scale(Tensor& x, double alpha);

namespace cuda {
void dropout_forward(const Tensor& x, double p, uint64_t key, Tensor& mask, Tensor& y);
void multiply(const Tensor& a, const Tensor& b, Tensor& out);
void add(const Tensor& a, const Tensor& b, Tensor& out);
void scale(Tensor& x, double alpha);
}  // namespace cuda

}  // namespace lockstep::ops
