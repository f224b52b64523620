#pragma once
// Element-wise ops: inverted dropout, products, sums (residual connections),
// scaling, rounding to bfloat16 (bf16 runs, see "Note: bf16 mixed precision"
// in core/model.cpp). Outputs are overwritten (`scale` and the one-argument
// `round_bf16` work in place).
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
/// y = x rounded to the nearest bfloat16 value, kept as float32: ties to even,
/// NaN stays NaN, infinities stay, finite values beyond bfloat16's largest
/// become infinities; bit for bit half::from_bf16(half::to_bf16(x))
/// (core/half.hpp). float32 only; y may be x.
void round_bf16(const Tensor& x, Tensor& y);
/// x rounded to bfloat16 in place.
inline void round_bf16(Tensor& x) {
  round_bf16(x, x);
}

namespace cuda {
void dropout_forward(const Tensor& x, double p, uint64_t key, Tensor& mask, Tensor& y);
void multiply(const Tensor& a, const Tensor& b, Tensor& out);
void add(const Tensor& a, const Tensor& b, Tensor& out);
void scale(Tensor& x, double alpha);
void round_bf16(const Tensor& x, Tensor& y);
}  // namespace cuda

}  // namespace lockstep::ops
