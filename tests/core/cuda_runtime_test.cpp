// The CUDA runtime pieces under the training step (skips without a GPU): a
// pinned buffer copied to the device is reported busy until the copy ran
// (memory::wait_device_reads, which the input pipeline waits on before it
// refills a slot); memory allocated while another stream is current is usable
// there and frees without error; cuBLAS stays bound to the current stream and
// a GEMM on the main stream can be captured in a CUDA graph (its workspace is
// set explicitly).

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "core/cuda/runtime.hpp"
#include "core/memory.hpp"
#include "tests/core/cuda_test_util.hpp"

namespace lockstep {
namespace {

using Clock = std::chrono::steady_clock;
using test::CudaTest;
constexpr auto kHold = std::chrono::milliseconds(400);

void hold(cudaStream_t stream) {
  LOCKSTEP_CUDA_CHECK(cudaLaunchHostFunc(
      stream, [](void*) { std::this_thread::sleep_for(kHold); }, nullptr));
}

class CudaRuntime : public CudaTest {};

TEST_F(CudaRuntime, PinnedSourceIsBusyUntilItsCopyRan) {
  const int64_t n = 1 << 16;
  Tensor pinned = Tensor::empty_pinned({n}, DType::kF32);
  for (int64_t i = 0; i < n; ++i) pinned.data<float>()[i] = 1.0f;
  Tensor dev = Tensor::empty({n}, DType::kF32, Device::kCuda);
  hold(cuda::current_stream());
  dev.copy_from(pinned);  // queued behind the hold
  const auto t0 = Clock::now();
  memory::wait_device_reads(pinned.data<float>() + n / 2);  // any address inside
  EXPECT_GE(Clock::now() - t0, kHold / 2) << "reported done before the copy ran";
  for (int64_t i = 0; i < n; ++i) pinned.data<float>()[i] = 2.0f;  // now safe
  const Tensor back = test::to_host(dev);
  for (int64_t i = 0; i < n; i += 997) ASSERT_EQ(back.data<float>()[i], 1.0f) << i;
  std::vector<float> plain(16);
  const auto t1 = Clock::now();
  memory::wait_device_reads(plain.data());  // not pinned: nothing to wait for
  EXPECT_LT(Clock::now() - t1, std::chrono::milliseconds(50));
}

TEST_F(CudaRuntime, AllocationOnAnotherStreamIsUsableThere) {
  const cuda::Stream side = cuda::make_stream();
  const Tensor host = test::random_host({4096}, 3);
  Tensor back = Tensor::empty({4096}, DType::kF32);
  {
    const cuda::StreamGuard on_side(side.get());
    hold(cuda::main_stream());  // the allocation is on the main stream, behind this
    Tensor dev = Tensor::empty({4096}, DType::kF32, Device::kCuda);
    dev.copy_from(host);
    back.copy_from(dev);  // synchronises the side stream
  }
  for (int64_t i = 0; i < 4096; ++i) ASSERT_EQ(back.data<float>()[i], host.data<float>()[i]);
  LOCKSTEP_CUDA_CHECK(cudaDeviceSynchronize());
  EXPECT_EQ(cuda::first_free_error(), cudaSuccess);
}

TEST_F(CudaRuntime, BlasFollowsTheCurrentStreamAndCapturesInAGraph) {
  const cuda::Stream side = cuda::make_stream();
  cudaStream_t bound = nullptr;
  {
    const cuda::StreamGuard on_side(side.get());
    LOCKSTEP_CUBLAS_CHECK(cublasGetStream(cuda::blas(), &bound));
    EXPECT_EQ(bound, side.get());
  }
  LOCKSTEP_CUBLAS_CHECK(cublasGetStream(cuda::blas(), &bound));
  EXPECT_EQ(bound, cuda::main_stream());

  const int m = 64, k = 48, n = 32;  // C (m, n) = A (m, k) B (k, n), column-major
  const Tensor a = test::random_host({m * k}, 1), b = test::random_host({k * n}, 2);
  const Tensor da = test::to_gpu(a), db = test::to_gpu(b);
  Tensor dc = Tensor::zeros({m * n}, DType::kF32, Device::kCuda);
  const cudaStream_t main = cuda::main_stream();
  LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(main));
  const float one = 1.0f, zero = 0.0f;
  cublasHandle_t h = cuda::blas();
  cudaGraph_t graph = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaStreamBeginCapture(main, cudaStreamCaptureModeThreadLocal));
  LOCKSTEP_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one,
                                    da.data<float>(), m, db.data<float>(), k, &zero,
                                    dc.data<float>(), m));
  LOCKSTEP_CUDA_CHECK(cudaStreamEndCapture(main, &graph));
  cudaGraphExec_t exec = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  LOCKSTEP_CUDA_CHECK(cudaGraphLaunch(exec, main));
  const Tensor c = test::to_host(dc);
  LOCKSTEP_CUDA_CHECK(cudaGraphExecDestroy(exec));
  LOCKSTEP_CUDA_CHECK(cudaGraphDestroy(graph));
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double want = 0;
      for (int p = 0; p < k; ++p)
        want += static_cast<double>(a.data<float>()[i + p * m]) * b.data<float>()[p + j * k];
      ASSERT_NEAR(c.data<float>()[i + j * m], want, 1e-4 + 1e-4 * std::abs(want)) << i << "," << j;
    }
  }
}

}  // namespace
}  // namespace lockstep
