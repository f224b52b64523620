// NcclCommunicator on GPU ranks (skips without a GPU; several ranks on the one
// GPU need tests/nccl_hostid.sh): waiting for a collective is stream-ordered
// (the host goes on while the collective cannot finish yet, and the result is
// exact once the stream has run), the Reducer's finalize() does not block on
// NCCL buckets, and the statistics all-reduce (allreduce(float):
// synchronised BatchNorm) completes while a gradient bucket is still held up.
//
// A stream is held up with a host function that sleeps on it, so the timing
// is not a race: the collective cannot start before the sleep ends.

#include <gtest/gtest.h>

#include <chrono>
#include <span>
#include <thread>
#include <vector>

#include "comm/mpi.hpp"
#include "comm/nccl.hpp"
#include "comm/reducer.hpp"
#include "core/cuda/runtime.hpp"
#include "core/device.hpp"
#include "core/tensor.hpp"

namespace lockstep::comm {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kHold = std::chrono::milliseconds(600);

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Selects this rank's GPU; false when any rank has none (every rank skips).
bool use_gpu(MpiCommunicator& world) {
  std::vector<int64_t> gpus{device::count()};
  world.allreduce(std::span<int64_t>(gpus), ReduceOp::kMin);
  if (gpus[0] == 0) return false;
  device::select(world.rank() % static_cast<int>(gpus[0]), device::Precision::kFp32);
  return true;
}

void hold(cudaStream_t stream) {
  LOCKSTEP_CUDA_CHECK(cudaLaunchHostFunc(
      stream, [](void*) { std::this_thread::sleep_for(kHold); }, nullptr));
}

Tensor device_filled(int64_t n, float value) {
  Tensor h = Tensor::empty({n}, DType::kF32);
  for (int64_t i = 0; i < n; ++i) h.data<float>()[i] = value;
  Tensor d = Tensor::empty({n}, DType::kF32, Device::kCuda);
  d.copy_from(h);
  return d;
}

std::vector<float> to_host(const Tensor& d) {
  Tensor h = Tensor::empty(d.shape(), DType::kF32);
  h.copy_from(d);  // synchronises the current stream
  return {h.data<float>(), h.data<float>() + h.numel()};
}

std::span<float> span_of(Tensor& t) {
  return {t.data<float>(), static_cast<size_t>(t.numel())};
}

TEST(Nccl, WaitOrdersTheStreamWithoutBlockingTheHost) {
  MpiCommunicator world;
  if (!use_gpu(world)) GTEST_SKIP() << "no GPU visible";
  auto nccl = make_nccl_communicator(world);
  const int p = world.size();
  Tensor data = device_filled(1 << 20, static_cast<float>(world.rank() + 1));
  hold(cuda::current_stream());  // the all-reduce starts after the hold
  const auto t0 = Clock::now();
  auto request = nccl->allreduce_async(span_of(data), ReduceOp::kSum);
  EXPECT_FALSE(request->host_waits());
  request->wait();
  EXPECT_LT(seconds(t0), 0.3) << "wait() blocked the host";
  EXPECT_FALSE(request->test()) << "complete before the held stream ran";
  const std::vector<float> got = to_host(data);
  const float want = static_cast<float>(p * (p + 1) / 2);
  for (size_t i = 0; i < got.size(); i += 4099) ASSERT_EQ(got[i], want) << i;
  EXPECT_TRUE(request->test());
}

TEST(Nccl, ReducerFinalizeDoesNotBlockOnBuckets) {
  MpiCommunicator world;
  if (!use_gpu(world)) GTEST_SKIP() << "no GPU visible";
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto nccl = make_nccl_communicator(world);
  const int p = world.size();
  Tensor slab = device_filled(3 << 18, static_cast<float>(world.rank() + 1));
  // Three layers of 1 MiB each, one bucket per layer.
  Reducer reducer(*nccl, span_of(slab), {{0, 1 << 18}, {1 << 18, 2 << 18}, {2 << 18, 3 << 18}},
                  size_t{1} << 20);
  ASSERT_EQ(reducer.num_buckets(), 3u);
  hold(cuda::current_stream());
  const auto t0 = Clock::now();
  for (size_t layer = 3; layer-- > 0;) reducer.layer_done(layer);
  reducer.finalize();
  EXPECT_LT(seconds(t0), 0.3) << "finalize() blocked the host";
  for (const auto& t : reducer.bucket_times()) EXPECT_FALSE(t.completion_known);
  const std::vector<float> got = to_host(slab);
  const float want = static_cast<float>(p + 1) / 2.0f;  // the average of 1..p
  for (size_t i = 0; i < got.size(); i += 4099) ASSERT_EQ(got[i], want) << i;
}

// Rank 1 holds its compute stream, so its bucket (and so every rank's) cannot
// finish; the statistics, queued from another stream after the bucket on
// every rank, still complete.
TEST(Nccl, StatisticsDoNotQueueBehindABucket) {
  MpiCommunicator world;
  if (!use_gpu(world)) GTEST_SKIP() << "no GPU visible";
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto nccl = make_nccl_communicator(world);
  const int p = world.size();
  Tensor bucket = device_filled(1 << 20, 1.0f);
  Tensor stats = device_filled(64, static_cast<float>(world.rank() + 1));
  const cuda::Stream side = cuda::make_stream();
  Tensor warm = device_filled(8, 1.0f);  // makes the statistics communicator first
  nccl->allreduce(span_of(warm), ReduceOp::kSum);
  LOCKSTEP_CUDA_CHECK(cudaDeviceSynchronize());
  world.barrier();
  if (world.rank() == 1) hold(cuda::current_stream());
  auto request = nccl->allreduce_async(span_of(bucket), ReduceOp::kSum);
  {
    const cuda::StreamGuard on_side(side.get());
    nccl->allreduce(span_of(stats), ReduceOp::kSum);
  }
  const auto t0 = Clock::now();
  LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(side.get()));
  EXPECT_LT(seconds(t0), 0.3) << "the statistics waited behind the bucket";
  if (world.rank() == 1) {
    EXPECT_FALSE(request->test()) << "the bucket was not held up";
  }
  std::vector<float> got;
  {
    const cuda::StreamGuard on_side(side.get());
    got = to_host(stats);
  }
  for (float v : got) ASSERT_EQ(v, static_cast<float>(p * (p + 1) / 2));
  request->wait();
  const std::vector<float> b = to_host(bucket);
  EXPECT_EQ(b[0], static_cast<float>(p));
}

}  // namespace
}  // namespace lockstep::comm
