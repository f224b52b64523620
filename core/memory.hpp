#pragma once
// Raw allocation behind Buffer, chosen at build time: memory_cpu.cpp when
// lockstep is built without CUDA, cuda/memory.cu with it (STYLE: backends are
// chosen by CMake, not #ifdef in function bodies).
//
// - host: 64-byte aligned memory.
// - pinned host: page-locked memory for asynchronous host<->device copies;
//   plain host memory when no GPU is present (or in a CPU-only build).
// - device: from a stream-ordered pool (cudaMallocAsync, allocated and freed
//   on the main stream: core/cuda/memory.cu, "Note: one allocation stream"),
//   so steady-state steps never reach cudaMalloc; throws in a CPU-only build.

#include <cstddef>

namespace lockstep::memory {

void* host_alloc(size_t bytes);
void host_free(void* p) noexcept;

void* pinned_alloc(size_t bytes);
void pinned_free(void* p) noexcept;

void* device_alloc(size_t bytes);
void device_free(void* p) noexcept;

/// Copies bytes between any two kinds of memory (synchronous with respect to
/// the host for host destinations). A copy from pinned memory to the device
/// is asynchronous: the pinned buffer must not be overwritten before
/// wait_device_reads says the copy is done.
void copy_bytes(void* dst, bool dst_device, const void* src, bool src_device, size_t bytes);
/// Blocks until every copy to the device queued so far from the pinned
/// allocation that contains `host` has finished (an event recorded after each
/// such copy, on the stream it was queued on: the latest covers the earlier
/// ones, which copies from one buffer on one stream keep true).
/// Returns at once for other memory and in a CPU-only build. For whoever
/// refills a pinned buffer (the input pipeline's thread).
void wait_device_reads(const void* host);
/// Sets bytes to zero (device memory: on the current stream).
void zero_bytes(void* dst, bool device, size_t bytes);

/// True when this build has the CUDA backend and a GPU is visible.
bool cuda_available();

}  // namespace lockstep::memory
