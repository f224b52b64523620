// CUDA hooks of core/transfer.hpp: events and asynchronous copies on the
// current stream.

#include "core/cuda/runtime.hpp"
#include "core/transfer.hpp"

namespace lockstep {
namespace async_detail {

namespace {
cudaEvent_t raw(EventHandle* e) {
  return reinterpret_cast<cudaEvent_t>(e);
}
}  // namespace

void EventDeleter::operator()(EventHandle* e) const noexcept {
  if (e) cudaEventDestroy(raw(e));
}

Event make_event() {
  cudaEvent_t e = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return Event(reinterpret_cast<EventHandle*>(e));
}

Event make_timing_event() {
  cudaEvent_t e = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDefault));
  return Event(reinterpret_cast<EventHandle*>(e));
}

double elapsed_seconds(EventHandle* from, EventHandle* to) {
  float ms = 0.f;
  LOCKSTEP_CUDA_CHECK(cudaEventElapsedTime(&ms, raw(from), raw(to)));
  return static_cast<double>(ms) * 1e-3;
}

void record(EventHandle* e) {
  LOCKSTEP_CUDA_CHECK(cudaEventRecord(raw(e), cuda::current_stream()));
}

void wait(EventHandle* e) {
  LOCKSTEP_CUDA_CHECK(cudaEventSynchronize(raw(e)));
}

bool done(EventHandle* e) {
  const cudaError_t rc = cudaEventQuery(raw(e));
  if (rc == cudaErrorNotReady) return false;
  LOCKSTEP_CUDA_CHECK(rc);
  return true;
}

void copy_async(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  LOCKSTEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, cuda::current_stream()));
}

}  // namespace async_detail

bool stream_idle() {
  cudaStream_t s = nullptr;
  try {
    s = cuda::current_stream();
  } catch (const Error&) {
    return true;  // no GPU selected: nothing queued
  }
  const cudaError_t rc = cudaStreamQuery(s);
  if (rc == cudaErrorNotReady) return false;
  LOCKSTEP_CUDA_CHECK(rc);
  return true;
}

}  // namespace lockstep
