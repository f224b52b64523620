#pragma once
// Element-wise activations; backward gets what forward saved (x for ReLU,
// y for sigmoid and tanh). Outputs `y` and `dx` are overwritten.
//
// Each op checks its arguments here (ops/activation.cpp) and runs the CPU reference
// (float32 and float64) or the CUDA version (ops/activation.cu, float32; the
// `cuda` block below, which callers never use directly).

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// Elementwise activations; backward gets what forward saved.
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx);  // dx = dy * (x > 0)
void sigmoid_forward(const Tensor& x, Tensor& y);
void sigmoid_backward(const Tensor& y, const Tensor& dy, Tensor& dx);  // dy * y * (1 - y)
void tanh_forward(const Tensor& x, Tensor& y);
void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx);  // dy * (1 - y^2)

namespace cuda {
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx);
void sigmoid_forward(const Tensor& x, Tensor& y);
void sigmoid_backward(const Tensor& y, const Tensor& dy, Tensor& dx);
void tanh_forward(const Tensor& x, Tensor& y);
void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx);
}  // namespace cuda

}  // namespace lockstep::ops
