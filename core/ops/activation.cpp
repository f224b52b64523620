// Activations (ops/activation.hpp): checked element-wise passes over the CPU
// threads (map_cpu.hpp), or the CUDA versions in ops/activation.cu.

#include "core/ops/activation.hpp"

#include <cmath>

#include "core/ops/map_cpu.hpp"

namespace lockstep::ops {

using detail::binary;
using detail::unary;

void relu_forward(const Tensor& x, Tensor& y) {
  unary(
      x, y, "relu_forward", [](auto v) { return v > 0 ? v : decltype(v)(0); }, cuda::relu_forward);
}
void relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  binary(
      x, dy, dx, "relu_backward", [](auto v, auto g) { return v > 0 ? g : decltype(g)(0); },
      cuda::relu_backward);
}
void sigmoid_forward(const Tensor& x, Tensor& y) {
  unary(
      x, y, "sigmoid_forward",
      [](auto v) {
        using T = decltype(v);
        // Stable for large |v|: never exponentiates a large positive number.
        if (v >= 0) return T(1) / (T(1) + std::exp(-v));
        const T e = std::exp(v);
        return e / (T(1) + e);
      },
      cuda::sigmoid_forward);
}
void sigmoid_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  binary(
      y, dy, dx, "sigmoid_backward", [](auto s, auto g) { return g * s * (decltype(s)(1) - s); },
      cuda::sigmoid_backward);
}
void tanh_forward(const Tensor& x, Tensor& y) {
  unary(
      x, y, "tanh_forward", [](auto v) { return std::tanh(v); }, cuda::tanh_forward);
}
void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  binary(
      y, dy, dx, "tanh_backward", [](auto t, auto g) { return g * (decltype(t)(1) - t * t); },
      cuda::tanh_backward);
}

}  // namespace lockstep::ops
