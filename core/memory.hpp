#pragma once
// Raw allocation behind Buffer, chosen at build time: memory_cpu.cpp when
// lockstep is built without CUDA, cuda/memory.cu with it (STYLE: backends are
// chosen by CMake, not #ifdef in function bodies).
//
// - host: 64-byte aligned memory.
// - pinned host: page-locked memory for asynchronous host<->device copies;
//   plain host memory when no GPU is present (or in a CPU-only build).
// - device: from a stream-ordered pool (cudaMallocFromPoolAsync on the
//   allocating thread's current stream), so steady-state steps never reach
//   cudaMalloc; throws in a CPU-only build.

#include <cstddef>

namespace lockstep::memory {

void* host_alloc(size_t bytes);
void host_free(void* p) noexcept;

void* pinned_alloc(size_t bytes);
void pinned_free(void* p) noexcept;

void* device_alloc(size_t bytes);
void device_free(void* p) noexcept;

/// Copies bytes between any two kinds of memory (synchronous with respect to
/// the host for host destinations).
void copy_bytes(void* dst, bool dst_device, const void* src, bool src_device, size_t bytes);
/// Sets bytes to zero (device memory: on the current stream).
void zero_bytes(void* dst, bool device, size_t bytes);

/// True when this build has the CUDA backend and a GPU is visible.
bool cuda_available();

}  // namespace lockstep::memory
