// Host allocation of core/memory.hpp, shared by the CPU-only and CUDA builds.

#include <cstdlib>
#include <new>

#include "core/memory.hpp"

namespace lockstep::memory {

namespace {
constexpr size_t kAlignment = 64;  // cache line / AVX-512 vector
}

void* host_alloc(size_t bytes) {
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void host_free(void* p) noexcept {
  std::free(p);
}

}  // namespace lockstep::memory
