// CUDA activations (ops/activation.hpp); ops/activation.cpp is the reference.

#include "core/ops/activation.hpp"
#include "core/ops/kernels.cuh"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

namespace {

struct Relu {
  __device__ float operator()(float v) const { return v > 0.f ? v : 0.f; }
};
struct ReluGrad {  // (x, dy)
  __device__ float operator()(float v, float g) const { return v > 0.f ? g : 0.f; }
};
struct Sigmoid {
  __device__ float operator()(float v) const {
    if (v >= 0.f) return 1.f / (1.f + expf(-v));
    const float e = expf(v);
    return e / (1.f + e);
  }
};
struct SigmoidGrad {  // (y, dy)
  __device__ float operator()(float s, float g) const { return g * s * (1.f - s); }
};
struct Tanh {
  __device__ float operator()(float v) const { return tanhf(v); }
};
struct TanhGrad {  // (y, dy)
  __device__ float operator()(float t, float g) const { return g * (1.f - t * t); }
};

}  // namespace

void relu_forward(const Tensor& x, Tensor& y) {
  unary(x, y, "relu_forward", Relu{});
}
void relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  binary(x, dy, dx, "relu_backward", ReluGrad{});
}
void sigmoid_forward(const Tensor& x, Tensor& y) {
  unary(x, y, "sigmoid_forward", Sigmoid{});
}
void sigmoid_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  binary(y, dy, dx, "sigmoid_backward", SigmoidGrad{});
}
void tanh_forward(const Tensor& x, Tensor& y) {
  unary(x, y, "tanh_forward", Tanh{});
}
void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  binary(y, dy, dx, "tanh_backward", TanhGrad{});
}

}  // namespace lockstep::ops::cuda
