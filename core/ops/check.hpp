#pragma once
// Internal to the op families (core/ops/*.cpp): the argument checks every
// public op runs before dispatching, and the dispatch on the element type of
// the CPU reference.

#include "core/error.hpp"
#include "core/tensor.hpp"

namespace lockstep::ops::detail {

// Every argument must be defined and on the device of the first one.
inline void check_on(const Tensor& t, Device device, const char* op, const char* arg) {
  LOCKSTEP_CHECK(t.defined(), op << ": argument '" << arg << "' is an undefined tensor");
  LOCKSTEP_CHECK(t.device() == device, op << ": argument '" << arg << "' is on "
                                          << to_string(t.device()) << ", expected "
                                          << to_string(device));
}

inline void check_same(const Tensor& a, const Tensor& b, const char* op) {
  LOCKSTEP_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(),
                 op << ": expected operands of equal shape and dtype, got " << shape_str(a.shape())
                    << " " << to_string(a.dtype()) << " and " << shape_str(b.shape()) << " "
                    << to_string(b.dtype()));
}

inline void check_shape(const Tensor& t, const Shape& expected, DType dtype, const char* op,
                        const char* arg) {
  LOCKSTEP_CHECK(t.shape() == expected && t.dtype() == dtype,
                 op << ": expected '" << arg << "' " << shape_str(expected) << " "
                    << to_string(dtype) << ", got " << shape_str(t.shape()) << " "
                    << to_string(t.dtype()));
}

inline bool is_real(DType t) {
  return t == DType::kF32 || t == DType::kF64;
}

// Calls f.template operator()<T>() with T = float or double per dtype.
template <class F>
void dispatch_real(DType t, const char* op, F&& f) {
  LOCKSTEP_CHECK(is_real(t), op << ": expected float32 or float64, got " << to_string(t));
  if (t == DType::kF32) {
    f.template operator()<float>();
  } else {
    f.template operator()<double>();
  }
}

}  // namespace lockstep::ops::detail
