#include "comm/nccl_wire.hpp"

#include "core/half.hpp"

namespace lockstep::comm::wire {

namespace {

constexpr int kThreads = 256;

int blocks_for(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 4096 ? (b > 0 ? b : 1) : 4096);
}

__global__ void max_abs_kernel(const float* x, size_t n, unsigned int* out) {
  unsigned int m = 0;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const unsigned int b = __float_as_uint(x[i]) & 0x7fffffffu;
    m = b > m ? b : m;
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    const unsigned int o = __shfl_down_sync(0xffffffffu, m, offset);
    m = o > m ? o : m;
  }
  if ((threadIdx.x & 31) == 0) atomicMax(out, m);
}

__device__ float scale_of(bool bf16, const unsigned int* max_bits, int ranks) {
  return bf16 ? 1.0f : half::f16_scale(__uint_as_float(*max_bits), ranks);
}

__global__ void to_wire_kernel(const float* x, uint16_t* y, size_t n, bool bf16,
                               const unsigned int* max_bits, int ranks) {
  const float scale = scale_of(bf16, max_bits, ranks);
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    y[i] = bf16 ? half::to_bf16(x[i]) : half::to_f16(x[i] * scale);
}

__global__ void from_wire_kernel(const uint16_t* y, float* x, size_t n, bool bf16,
                                 const unsigned int* max_bits, int ranks, float post) {
  const float factor = post / scale_of(bf16, max_bits, ranks);
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] = (bf16 ? half::from_bf16(y[i]) : half::from_f16(y[i])) * factor;
}

}  // namespace

void max_abs_bits(const float* x, size_t n, unsigned int* max_bits, cudaStream_t stream) {
  max_abs_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, max_bits);
}

void to_wire(const float* x, uint16_t* y, size_t n, bool bf16, const unsigned int* max_bits,
             int ranks, cudaStream_t stream) {
  to_wire_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n, bf16, max_bits, ranks);
}

void from_wire(const uint16_t* y, float* x, size_t n, bool bf16, const unsigned int* max_bits,
               int ranks, float post, cudaStream_t stream) {
  from_wire_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, x, n, bf16, max_bits, ranks, post);
}

}  // namespace lockstep::comm::wire
