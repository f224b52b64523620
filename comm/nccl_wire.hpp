#pragma once
// Device kernels of the NCCL communicator's 16-bit all-reduce (WireType):
// the largest magnitude (as float bits, for an ncclMax over uint32), and the
// conversions to and from the wire type, the binary16 scale computed on the
// device from the agreed largest magnitude (no host synchronisation).

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace lockstep::comm::wire {

/// *max_bits = max(*max_bits, bits of max |x|) (non-negative floats order as
/// their bits; NaN above infinity). *max_bits must start at 0.
void max_abs_bits(const float* x, size_t n, unsigned int* max_bits, cudaStream_t stream);
/// y = x as bfloat16, or as binary16 after scaling by f16_scale(max, ranks).
void to_wire(const float* x, uint16_t* y, size_t n, bool bf16, const unsigned int* max_bits,
             int ranks, cudaStream_t stream);
/// x = y * post (binary16: / the same scale).
void from_wire(const uint16_t* y, float* x, size_t n, bool bf16, const unsigned int* max_bits,
               int ranks, float post, cudaStream_t stream);

}  // namespace lockstep::comm::wire
