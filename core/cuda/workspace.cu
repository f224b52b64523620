// core/cuda/workspace.hpp.

#include "core/cuda/workspace.hpp"

#include "core/cuda/runtime.hpp"
#include "core/tensor.hpp"

namespace lockstep::cuda {
namespace {

constexpr size_t kGranule = size_t{2} << 20;

struct Shared {
  Tensor buffer;                // uint8 (bytes,) on the GPU
  cudaStream_t last = nullptr;  // the stream of the previous request
  Event ready;                  // recorded on `last` when another stream asks
  uint64_t generation = 0;      // bumped each time the buffer moves
};

Shared& shared() {
  static Shared s;  // one GPU per process (core/cuda/device.cu)
  return s;
}

// `waiter` waits for everything queued so far on `after`.
void order_after(Shared& s, cudaStream_t waiter, cudaStream_t after) {
  if (!s.ready) s.ready = make_event();
  LOCKSTEP_CUDA_CHECK(cudaEventRecord(s.ready.get(), after));
  LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(waiter, s.ready.get(), 0));
}

}  // namespace

void* shared_workspace(size_t bytes) {
  Shared& s = shared();
  if (bytes == 0 && !s.buffer.defined()) return nullptr;  // cuDNN takes none for some algorithms
  const cudaStream_t stream = current_stream();
  if (s.last != nullptr && s.last != stream) order_after(s, stream, s.last);
  s.last = stream;
  const size_t have = s.buffer.defined() ? static_cast<size_t>(s.buffer.numel()) : 0;
  if (bytes > have) {
    // The old buffer returns to the pool on the main stream (core/memory.hpp):
    // order that after this stream's last use of it.
    if (s.buffer.defined() && stream != main_stream()) order_after(s, main_stream(), stream);
    s.buffer = Tensor();
    const size_t grown = (bytes + kGranule - 1) / kGranule * kGranule;
    s.buffer = Tensor::empty({static_cast<int64_t>(grown)}, DType::kU8, Device::kCuda);
    ++s.generation;
  }
  return s.buffer.data<uint8_t>();
}

size_t shared_workspace_bytes() {
  const Shared& s = shared();
  return s.buffer.defined() ? static_cast<size_t>(s.buffer.numel()) : 0;
}

uint64_t shared_workspace_generation() {
  return shared().generation;
}

}  // namespace lockstep::cuda
