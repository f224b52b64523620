// CPU-only build of core/memory.hpp: no device memory; pinned memory is plain
// host memory.

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.hpp"
#include "core/memory.hpp"

namespace lockstep::memory {

void* pinned_alloc(size_t bytes) {
  return host_alloc(bytes);
}
void pinned_free(void* p) noexcept {
  host_free(p);
}

void* device_alloc(size_t /*bytes*/) {
  throw Error(
      "device memory requested, but this build of lockstep has no CUDA backend "
      "(rebuild with the CUDA toolkit installed, or use --dist.device cpu)");
}
void device_free(void* /*p*/) noexcept {}

void copy_bytes(void* dst, bool dst_device, const void* src, bool src_device, size_t bytes) {
  LOCKSTEP_CHECK(!dst_device && !src_device, "device copy in a build without CUDA");
  if (bytes) std::memmove(dst, src, bytes);
}

void wait_device_reads(const void* /*host*/) {}

void zero_bytes(void* dst, bool device, size_t bytes) {
  LOCKSTEP_CHECK(!device, "device memset in a build without CUDA");
  if (bytes) std::memset(dst, 0, bytes);
}

bool cuda_available() {
  return false;
}

}  // namespace lockstep::memory
