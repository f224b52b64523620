// CUDA element-wise ops (ops/elementwise.hpp); ops/elementwise.cpp is the reference.

#include "core/half.hpp"
#include "core/ops/elementwise.hpp"
#include "core/ops/kernels.cuh"
#include "core/rng.hpp"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

namespace {

struct Mul {
  __device__ float operator()(float u, float v) const { return u * v; }
};
struct Add {
  __device__ float operator()(float u, float v) const { return u + v; }
};
// The conversions of core/half.hpp, so that GPU and CPU round bit for bit alike.
struct RoundBf16 {
  __device__ float operator()(float v) const { return half::from_bf16(half::to_bf16(v)); }
};
struct Scale {
  float a;
  __device__ float operator()(float v) const { return v * a; }
};

__global__ void dropout_kernel(const float* x, float* mask, float* y, int64_t n, float p,
                               float keep_scale, uint64_t key) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const float m = uniform_at(key, static_cast<uint64_t>(i)) >= p ? keep_scale : 0.f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

}  // namespace

void multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(a, b, out, "multiply", Mul{});
}
void add(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(a, b, out, "add", Add{});
}

void dropout_forward(const Tensor& x, double p, uint64_t key, Tensor& mask, Tensor& y) {
  require_f32(x, "dropout_forward");
  const int64_t n = x.numel();
  if (n == 0) return;
  dropout_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      cf(x), f(mask), f(y), n, static_cast<float>(p), 1.f / static_cast<float>(1.0 - p), key);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void scale(Tensor& x, double alpha) {
  require_f32(x, "scale");
  if (alpha == 0.0) {
    x.zero();
    return;
  }
  unary(x, x, "scale", Scale{static_cast<float>(alpha)});
}

void round_bf16(const Tensor& x, Tensor& y) {
  unary(x, y, "round_bf16", RoundBf16{});
}

}  // namespace lockstep::ops::cuda
