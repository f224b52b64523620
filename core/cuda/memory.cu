// CUDA build of core/memory.hpp: device memory from the stream-ordered pool of
// the selected GPU, page-locked host memory for asynchronous copies.
//
// Note: one allocation stream. Device memory is allocated and freed on the
// main stream, whatever the current stream: a stream-ordered free must come
// after every use of the memory, and only the main stream is known to be
// ordered after all of them (work on another stream, such as the input
// copies, is joined into the main stream with an event before the main stream
// uses its results, so it comes before any later free there). An allocation
// made while another stream is current orders that stream after it. Freeing
// cannot throw (destructors): the first failure is printed once and kept for
// cuda::first_free_error().
//
// Note: pinned buffers read by the device. A copy from pinned memory to the
// device returns before the device has read the bytes; the buffer may be
// overwritten only after that. Each pinned allocation is registered with an
// event, recorded after every such copy (the CUDA analogue of a "last use"
// fence); wait_device_reads blocks on it, and freeing waits on it too.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "core/cuda/runtime.hpp"
#include "core/device.hpp"
#include "core/memory.hpp"

namespace lockstep::memory {

namespace {

// "Note: pinned buffers read by the device": base address -> allocation.
struct PinnedBlock {
  size_t bytes = 0;
  cudaEvent_t read = nullptr;  // recorded after the latest copy to the device; made on first use
};
struct PinnedRegistry {
  std::mutex mutex;
  std::map<uintptr_t, PinnedBlock> blocks;
  PinnedBlock* find(const void* p) {  // the block containing p, under `mutex`
    const auto at = reinterpret_cast<uintptr_t>(p);
    auto it = blocks.upper_bound(at);
    if (it == blocks.begin()) return nullptr;
    --it;
    return at < it->first + it->second.bytes ? &it->second : nullptr;
  }
};
PinnedRegistry& pinned_registry() {
  static PinnedRegistry* r = new PinnedRegistry;  // outlives static buffers freed at exit
  return *r;
}

}  // namespace

// Pinned memory only where a GPU is in use; plain host memory otherwise (a
// CUDA build running on CPU ranks).
void* pinned_alloc(size_t bytes) {
  if (device::selected() < 0) return host_alloc(bytes);
  void* p = nullptr;
  const size_t n = bytes == 0 ? 1 : bytes;
  LOCKSTEP_CUDA_CHECK(cudaMallocHost(&p, n));
  PinnedRegistry& r = pinned_registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  r.blocks[reinterpret_cast<uintptr_t>(p)] = PinnedBlock{n, nullptr};
  return p;
}

void pinned_free(void* p) noexcept {
  if (p == nullptr) return;
  {
    PinnedRegistry& r = pinned_registry();
    const std::lock_guard<std::mutex> lock(r.mutex);
    const auto it = r.blocks.find(reinterpret_cast<uintptr_t>(p));
    if (it != r.blocks.end()) {
      if (it->second.read != nullptr) {  // the device may still be reading it
        cudaEventSynchronize(it->second.read);
        cudaEventDestroy(it->second.read);
      }
      r.blocks.erase(it);
    }
  }
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) == cudaSuccess && attr.type == cudaMemoryTypeHost) {
    cudaFreeHost(p);
  } else {
    cudaGetLastError();
    std::free(p);
  }
}

namespace {
std::atomic<int> g_first_free_error{cudaSuccess};
}  // namespace

void* device_alloc(size_t bytes) {
  LOCKSTEP_CHECK(device::selected() >= 0,
                 "device memory requested before a GPU was selected (--dist.device cuda)");
  void* p = nullptr;
  const cudaStream_t main = cuda::main_stream();
  LOCKSTEP_CUDA_CHECK(cudaMallocAsync(&p, bytes == 0 ? 1 : bytes, main));
  const cudaStream_t current = cuda::current_stream();
  if (current != main) {  // "Note: one allocation stream": usable there after main's allocation
    thread_local const cuda::Event allocated = cuda::make_event();
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(allocated.get(), main));
    LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(current, allocated.get(), 0));
  }
  return p;
}

void device_free(void* p) noexcept {
  if (p == nullptr || device::selected() < 0) return;
  const cudaError_t rc = cudaFreeAsync(p, cuda::main_stream());
  if (rc == cudaSuccess) return;
  cudaGetLastError();
  // At process exit static buffers may outlive the CUDA runtime: nothing to free then.
  if (rc == cudaErrorCudartUnloading || rc == cudaErrorContextIsDestroyed) return;
  int none = cudaSuccess;
  if (g_first_free_error.compare_exchange_strong(none, rc)) {
    std::fprintf(stderr,
                 "lockstep: %s: cudaFreeAsync(%p) on the main stream failed: %s (expected "
                 "cudaSuccess; further free failures are not reported)\n",
                 cuda::where().c_str(), p, cudaGetErrorString(rc));
  }
}

void copy_bytes(void* dst, bool dst_device, const void* src, bool src_device, size_t bytes) {
  if (bytes == 0) return;
  if (!dst_device && !src_device) {
    std::memmove(dst, src, bytes);
    return;
  }
  const cudaStream_t s = cuda::current_stream();
  LOCKSTEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  if (dst_device && !src_device) {  // "Note: pinned buffers read by the device"
    PinnedRegistry& r = pinned_registry();
    const std::lock_guard<std::mutex> lock(r.mutex);
    if (PinnedBlock* b = r.find(src)) {
      if (b->read == nullptr)
        LOCKSTEP_CUDA_CHECK(cudaEventCreateWithFlags(&b->read, cudaEventDisableTiming));
      LOCKSTEP_CUDA_CHECK(cudaEventRecord(b->read, s));
    }
  }
  // The host reads it next: an explicit host read (a metric, a checkpoint), never
  // part of a step's device work.
  if (!dst_device) LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(s));
}

void wait_device_reads(const void* host) {
  cudaEvent_t read = nullptr;
  {
    PinnedRegistry& r = pinned_registry();
    const std::lock_guard<std::mutex> lock(r.mutex);
    if (const PinnedBlock* b = r.find(host)) read = b->read;
  }
  if (read == nullptr) return;
  // Usually called on another thread (the input pipeline's): make the rank's
  // GPU current there, or the runtime would set up a context on GPU 0.
  LOCKSTEP_CUDA_CHECK(cudaSetDevice(device::selected()));
  // Outside the lock (the training thread keeps copying). The event lives as
  // long as its allocation, which the caller is about to write.
  LOCKSTEP_CUDA_CHECK(cudaEventSynchronize(read));
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

namespace lockstep::cuda {

cudaError_t first_free_error() {
  return static_cast<cudaError_t>(memory::g_first_free_error.load());
}

}  // namespace lockstep::cuda
