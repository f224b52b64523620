// Element-wise ops (ops/elementwise.hpp): argument checks, dispatch to
// ops/elementwise.cu for device tensors, the CPU reference.

#include "core/ops/elementwise.hpp"

#include <algorithm>

#include "core/half.hpp"
#include "core/ops/map_cpu.hpp"
#include "core/rng.hpp"

namespace lockstep::ops {

using detail::binary;
using detail::check_on;
using detail::check_same;
using detail::dispatch_real;

void dropout_forward(const Tensor& x, double p, uint64_t key, Tensor& mask, Tensor& y) {
  check_on(x, x.device(), "dropout_forward", "x");
  check_same(x, mask, "dropout_forward");
  check_same(x, y, "dropout_forward");
  LOCKSTEP_CHECK(p >= 0.0 && p < 1.0, "dropout: expected a rate in [0, 1), got " << p);
  check_on(mask, x.device(), "dropout_forward", "mask");
  check_on(y, x.device(), "dropout_forward", "y");
  if (x.device() == Device::kCuda) return cuda::dropout_forward(x, p, key, mask, y);
  dispatch_real(x.dtype(), "dropout_forward", [&]<class T>() {
    const T* px = x.data<T>();
    T* pm = mask.data<T>();
    T* py = y.data<T>();
    const T keep_scale = T(1) / T(1 - p);
    const auto threshold = static_cast<float>(p);
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) {
      pm[i] = uniform_at(key, static_cast<uint64_t>(i)) >= threshold ? keep_scale : T(0);
      py[i] = px[i] * pm[i];
    }
  });
}

void multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(
      a, b, out, "multiply", [](auto u, auto v) { return u * v; }, cuda::multiply);
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(
      a, b, out, "add", [](auto u, auto v) { return u + v; }, cuda::add);
}

void scale(Tensor& x, double alpha) {
  check_on(x, x.device(), "scale", "x");
  if (x.device() == Device::kCuda) return cuda::scale(x, alpha);
  dispatch_real(x.dtype(), "scale", [&]<class T>() {
    T* p = x.data<T>();
    const auto a = static_cast<T>(alpha);
    const int64_t n = x.numel();
    if (alpha == 0.0) {
      std::fill(p, p + n, T(0));
    } else {
      for (int64_t i = 0; i < n; ++i) p[i] *= a;
    }
  });
}

void round_bf16(const Tensor& x, Tensor& y) {
  check_on(x, x.device(), "round_bf16", "x");
  check_on(y, x.device(), "round_bf16", "y");
  check_same(x, y, "round_bf16");
  LOCKSTEP_CHECK(x.dtype() == DType::kF32,
                 "round_bf16: expected a float32 tensor, got " << to_string(x.dtype()));
  if (x.device() == Device::kCuda) return cuda::round_bf16(x, y);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(x.numel(), detail::kElementsPerPart, [&](int, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) py[i] = half::from_bf16(half::to_bf16(px[i]));
  });
}

}  // namespace lockstep::ops
