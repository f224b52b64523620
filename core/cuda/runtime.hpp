#pragma once
// The CUDA runtime as lockstep uses it (CUDA builds only): check macros for
// CUDA and cuBLAS calls, RAII owners for streams and events, the main stream
// and the cuBLAS handle of the selected GPU.
//
// Stream ordering: every op runs on the *current* stream (the main stream
// unless a StreamGuard says otherwise). Communication runs on its own stream,
// started after an event on the main stream; see comm/nccl.hpp for how a
// collective is waited for.

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "core/error.hpp"

namespace lockstep::cuda {

std::string cublas_status_string(cublasStatus_t s);
/// "GPU <n>" of the selected device, for error messages.
std::string where();

}  // namespace lockstep::cuda

#define LOCKSTEP_CUDA_CHECK(call)                                                    \
  do {                                                                               \
    const cudaError_t lockstep_cuda_rc_ = (call);                                    \
    if (lockstep_cuda_rc_ != cudaSuccess)                                            \
      ::lockstep::detail::throw_call_failed(                                         \
          "CUDA", #call, __FILE__, __LINE__,                                         \
          ::lockstep::cuda::where() + ": " + cudaGetErrorString(lockstep_cuda_rc_)); \
  } while (0)

#define LOCKSTEP_CUBLAS_CHECK(call)                                         \
  do {                                                                      \
    const cublasStatus_t lockstep_cublas_rc_ = (call);                      \
    if (lockstep_cublas_rc_ != CUBLAS_STATUS_SUCCESS)                       \
      ::lockstep::detail::throw_call_failed(                                \
          "cuBLAS", #call, __FILE__, __LINE__,                              \
          ::lockstep::cuda::where() + ": " +                                \
              ::lockstep::cuda::cublas_status_string(lockstep_cublas_rc_)); \
  } while (0)

/// After every kernel launch.
#define LOCKSTEP_CUDA_CHECK_LAUNCH() LOCKSTEP_CUDA_CHECK(cudaGetLastError())

namespace lockstep::cuda {

struct StreamDeleter {
  void operator()(CUstream_st* s) const noexcept { cudaStreamDestroy(s); }
};
struct EventDeleter {
  void operator()(CUevent_st* e) const noexcept { cudaEventDestroy(e); }
};
using Stream = std::unique_ptr<CUstream_st, StreamDeleter>;
using Event = std::unique_ptr<CUevent_st, EventDeleter>;

Stream make_stream();  // non-blocking
Event make_event(bool timing = false);

/// The first failure of a device free (core/cuda/memory.cu, "Note: one
/// allocation stream"), or cudaSuccess: frees run in destructors and cannot throw.
cudaError_t first_free_error();

/// The stream ops run on (the main stream of the selected GPU by default).
cudaStream_t current_stream();
/// The main stream of the selected GPU.
cudaStream_t main_stream();
/// cuBLAS handle of the selected GPU, bound to the current stream (set only
/// when it changed); on the main stream it uses a workspace from the pool, so
/// that cuBLAS calls can be captured in a CUDA graph.
cublasHandle_t blas();
/// Compute type for float GEMMs: CUBLAS_COMPUTE_32F or ..._FAST_TF32.
cublasComputeType_t gemm_compute_type();

/// Runs ops on `stream` while alive.
class StreamGuard {
 public:
  explicit StreamGuard(cudaStream_t stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  cudaStream_t previous_;
};

/// Grid size for n elements with `threads` per block (capped for grid-stride loops).
inline unsigned blocks_for(int64_t n, int threads = 256) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

}  // namespace lockstep::cuda
