// CUDA build of core/device.hpp and the runtime state of core/cuda/runtime.hpp:
// the selected GPU, its main stream, its cuBLAS handle, the GEMM precision, and
// the per-thread current stream.

#include <cstdio>

#include "core/cuda/runtime.hpp"
#include "core/device.hpp"

namespace lockstep {
namespace {

struct DeviceState {
  int device = -1;
  cuda::Stream main;
  cublasHandle_t blas = nullptr;
  cudaStream_t blas_stream = nullptr;  // the stream `blas` is bound to
  void* blas_workspace = nullptr;      // kBlasWorkspaceBytes from the pool, for the main stream
  device::Precision precision = device::Precision::kFp32;
};

DeviceState& state() {
  static DeviceState s;  // one GPU per process (one rank per GPU)
  return s;
}

thread_local cudaStream_t t_current = nullptr;

// cuBLAS's recommended workspace on Hopper (4 MiB suffices before it). An
// explicit workspace keeps cuBLAS from allocating its own during a CUDA graph
// capture, which capture does not allow.
constexpr size_t kBlasWorkspaceBytes = size_t{32} << 20;

}  // namespace

namespace device {

int count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver / no device: clear the sticky error
    return 0;
  }
  return n;
}

bool built_with_cuda() {
  return true;
}

Info info(int dev) {
  cudaDeviceProp p{};
  LOCKSTEP_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  char bus[32] = {0};
  LOCKSTEP_CUDA_CHECK(cudaDeviceGetPCIBusId(bus, sizeof bus, dev));
  return Info{p.name, bus, p.totalGlobalMem};
}

void select(int dev, Precision precision) {
  DeviceState& s = state();
  LOCKSTEP_CHECK(s.device == -1 || s.device == dev,
                 "GPU " << dev << " requested, but this process already uses GPU " << s.device);
  const int n = count();
  LOCKSTEP_CHECK(dev >= 0 && dev < n, "GPU " << dev << " requested, but " << n << " visible");
  s.precision = precision;
  set_compute_precision(precision);
  if (s.device == dev) return;
  LOCKSTEP_CUDA_CHECK(cudaSetDevice(dev));
  s.device = dev;
  s.main = cuda::make_stream();
  LOCKSTEP_CUBLAS_CHECK(cublasCreate(&s.blas));
  // Keep freed pool memory for reuse: steady-state steps never reach cudaMalloc.
  cudaMemPool_t pool = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, dev));
  uint64_t threshold = UINT64_MAX;
  LOCKSTEP_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  // The workspace lives as long as the process (like the handle), used on the
  // main stream only: another stream sharing it could run concurrently.
  LOCKSTEP_CUDA_CHECK(cudaMallocAsync(&s.blas_workspace, kBlasWorkspaceBytes, s.main.get()));
  LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(s.main.get()));  // once, at set-up
}

int selected() {
  return state().device;
}

void synchronize() {
  if (state().device >= 0) LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
}

}  // namespace device

namespace cuda {

std::string cublas_status_string(cublasStatus_t s) {
  return std::string(cublasGetStatusName(s)) + " (" + cublasGetStatusString(s) + ")";
}

std::string where() {
  return "GPU " + std::to_string(state().device);
}

Stream make_stream() {
  cudaStream_t s = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return Stream(s);
}

Event make_event(bool timing) {
  cudaEvent_t e = nullptr;
  LOCKSTEP_CUDA_CHECK(
      cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming));
  return Event(e);
}

cudaStream_t main_stream() {
  LOCKSTEP_CHECK(state().device >= 0, "CUDA work requested before a GPU was selected");
  return state().main.get();
}

cudaStream_t current_stream() {
  return t_current ? t_current : main_stream();
}

cublasHandle_t blas() {
  DeviceState& s = state();
  LOCKSTEP_CHECK(s.blas != nullptr, "cuBLAS used before a GPU was selected");
  const cudaStream_t stream = current_stream();
  if (stream != s.blas_stream) {
    // cublasSetStream also resets the workspace to cuBLAS's own pool: set ours
    // again on the main stream (other streams keep cuBLAS's default).
    LOCKSTEP_CUBLAS_CHECK(cublasSetStream(s.blas, stream));
    if (stream == s.main.get())
      LOCKSTEP_CUBLAS_CHECK(cublasSetWorkspace(s.blas, s.blas_workspace, kBlasWorkspaceBytes));
    s.blas_stream = stream;
  }
  return s.blas;
}

// Follows the process-wide compute precision (core/precision.hpp). In bf16
// runs the GEMM inputs are already bfloat16 values (see "Note: bf16 mixed
// precision", core/model.cpp), so FAST_16BF's conversion of them is exact:
// products of two bfloat16 values are exact in float32 and cuBLAS accumulates
// in float32, as the CPU emulation does (up to summation order).
cublasComputeType_t gemm_compute_type() {
  switch (compute_precision()) {
    case Precision::kTf32:
      return CUBLAS_COMPUTE_32F_FAST_TF32;
    case Precision::kBf16:
      return CUBLAS_COMPUTE_32F_FAST_16BF;
    case Precision::kFp32:
      break;
  }
  return CUBLAS_COMPUTE_32F;
}

StreamGuard::StreamGuard(cudaStream_t stream) : previous_(t_current) {
  t_current = stream;
}
StreamGuard::~StreamGuard() {
  t_current = previous_;
}

}  // namespace cuda
}  // namespace lockstep
