// CUDA build of core/memory.hpp: device memory from the stream-ordered pool of
// the selected GPU, page-locked host memory for asynchronous copies.

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/cuda/runtime.hpp"
#include "core/device.hpp"
#include "core/memory.hpp"

namespace lockstep::memory {

// Pinned memory only where a GPU is in use; plain host memory otherwise (a
// CUDA build running on CPU ranks).
void* pinned_alloc(size_t bytes) {
  if (device::selected() < 0) return host_alloc(bytes);
  void* p = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaMallocHost(&p, bytes == 0 ? 1 : bytes));
  return p;
}

void pinned_free(void* p) noexcept {
  if (p == nullptr) return;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) == cudaSuccess && attr.type == cudaMemoryTypeHost) {
    cudaFreeHost(p);
  } else {
    cudaGetLastError();
    std::free(p);
  }
}

void* device_alloc(size_t bytes) {
  LOCKSTEP_CHECK(device::selected() >= 0,
                 "device memory requested before a GPU was selected (--dist.device cuda)");
  void* p = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaMallocAsync(&p, bytes == 0 ? 1 : bytes, cuda::current_stream()));
  return p;
}

void device_free(void* p) noexcept {
  if (p != nullptr && device::selected() >= 0) cudaFreeAsync(p, cuda::main_stream());
}

void copy_bytes(void* dst, bool dst_device, const void* src, bool src_device, size_t bytes) {
  if (bytes == 0) return;
  if (!dst_device && !src_device) {
    std::memmove(dst, src, bytes);
    return;
  }
  const cudaStream_t s = cuda::current_stream();
  LOCKSTEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  if (!dst_device) LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(s));  // the host reads it next
}

void zero_bytes(void* dst, bool device, size_t bytes) {
  if (bytes == 0) return;
  if (device) {
    LOCKSTEP_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, cuda::current_stream()));
  } else {
    std::memset(dst, 0, bytes);
  }
}

bool cuda_available() {
  return device::count() > 0;
}

}  // namespace lockstep::memory
