#pragma once
// Shared by the bf16 mixed-precision suites (bf16_test.cpp: the CPU emulation;
// cuda_bf16_test.cpp: the GPU against it): a scope that sets the compute
// precision, float32 bit patterns, the bfloat16 rounding reference
// (core/half.hpp), and the relative L2 difference whole models are judged by.

#include <cmath>
#include <cstdint>

#include "core/half.hpp"
#include "core/ops/elementwise.hpp"
#include "core/precision.hpp"
#include "core/tensor.hpp"

namespace lockstep::test {

/// Sets the process's compute precision for one scope, and puts back the one
/// it found: a failing test must not leave the next one running bf16.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision p) : previous_(compute_precision()) {
    set_compute_precision(p);
  }
  ~PrecisionScope() { set_compute_precision(previous_); }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision previous_;
};

inline uint32_t bits(float v) {
  return half::float_bits(v);
}
inline float from_bits(uint32_t u) {
  return half::bits_float(u);
}

/// The reference rounding: float32 -> bfloat16 (nearest even) -> float32.
inline float bf16(float v) {
  return half::from_bf16(half::to_bf16(v));
}

/// Whether v is a bfloat16 value held as float32 (its low 16 bits zero), or a NaN.
inline bool is_bf16(float v) {
  return (bits(v) & 0xffffu) == 0 || std::isnan(v);
}

/// A copy of a host float32 tensor rounded to bfloat16 by ops::round_bf16.
inline Tensor rounded(const Tensor& t) {
  Tensor r = Tensor::empty(t.shape(), t.dtype());
  r.copy_from(t);
  ops::round_bf16(r);
  return r;
}

/// ||got - ref|| / ||ref|| over two host float32 tensors of equal size.
inline double rel_l2(const Tensor& got, const Tensor& ref) {
  double d = 0, n = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double u = got.data<float>()[i], v = ref.data<float>()[i];
    d += (u - v) * (u - v);
    n += v * v;
  }
  return std::sqrt(d / n);
}

}  // namespace lockstep::test
