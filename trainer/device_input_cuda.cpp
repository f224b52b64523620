// CUDA build of trainer/device_input.hpp: two device buffers filled in turn on
// a copy stream (see the header).

#include "trainer/device_input.hpp"

#include "core/cuda/runtime.hpp"

namespace lockstep::trainer {

struct DeviceInput::Impl {
  Tensor staging[2];
  // used[i]: recorded on the compute stream once every use of staging[i] was
  // queued (at the call after the one that returned it).
  cuda::Event used[2];
  bool recorded[2] = {false, false};
  cuda::Event copied;
  cuda::Stream copy;
  int next = 0;
};

DeviceInput::DeviceInput() : impl_(std::make_unique<Impl>()) {}
DeviceInput::~DeviceInput() = default;

const Tensor& DeviceInput::to_device(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  Impl& s = *impl_;
  if (device != Device::kCuda) {  // to the host: a plain (synchronous) copy
    ensure_shape(s.staging[0], t.shape(), t.dtype(), device);
    s.staging[0].copy_from(t);
    return s.staging[0];
  }
  if (!s.copy) {  // made on first use: CPU ranks of a CUDA build never get here
    s.copy = cuda::make_stream();
    s.copied = cuda::make_event();
    for (cuda::Event& e : s.used) e = cuda::make_event();
  }
  const int i = s.next;
  const int other = 1 - i;
  const cudaStream_t compute = cuda::current_stream();
  // The buffer's previous contents were last used before `used[i]`.
  if (s.recorded[i]) LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(s.copy.get(), s.used[i].get(), 0));
  {
    // A reallocation (the shape changed) happens on the main stream and
    // orders the copy stream after it (core/cuda/memory.cu).
    const cuda::StreamGuard on_copy(s.copy.get());
    ensure_shape(s.staging[i], t.shape(), t.dtype(), device);
    s.staging[i].copy_from(t);  // records the pinned source's read event on the copy stream
  }
  LOCKSTEP_CUDA_CHECK(cudaEventRecord(s.copied.get(), s.copy.get()));
  // Every use of the other buffer (returned by the previous call) is queued by now.
  LOCKSTEP_CUDA_CHECK(cudaEventRecord(s.used[other].get(), compute));
  s.recorded[other] = true;
  LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(compute, s.copied.get(), 0));
  s.next = other;
  return s.staging[i];
}

}  // namespace lockstep::trainer
