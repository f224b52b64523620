// 16-bit gradient all-reduce (dist.grad_dtype): the conversions of
// core/half.hpp (known bit patterns, every binary16 and bfloat16 value round
// trips, round-to-nearest-even ties), and the compressed all-reduce on 1, 2
// and 4 ranks: sums and averages within the type's rounding, binary16's
// agreed scale keeping large sums finite and tiny values non-zero, NaN kept,
// the Reducer sending its buckets so, and a bucket tested to completion.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "comm/mpi.hpp"
#include "comm/reducer.hpp"
#include "core/half.hpp"

namespace lockstep::comm {
namespace {

TEST(Half, KnownBitPatterns) {
  EXPECT_EQ(half::to_f16(1.0f), 0x3c00);
  EXPECT_EQ(half::to_f16(-2.0f), 0xc000);
  EXPECT_EQ(half::to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(half::to_f16(65520.0f), 0x7c00);  // rounds beyond the largest: infinity
  EXPECT_EQ(half::to_f16(0.1f), 0x2e66);
  EXPECT_EQ(half::to_f16(1.0f / 3.0f), 0x3555);
  EXPECT_EQ(half::to_f16(5.9604644775390625e-8f), 0x0001);  // the least subnormal
  EXPECT_EQ(half::to_f16(2.98e-8f), 0x0000);                // below half of it
  EXPECT_EQ(half::to_f16(6.103515625e-5f), 0x0400);         // the least normal
  EXPECT_EQ(half::to_f16(1.0f + 1.0f / 2048.0f), 0x3c00);   // a tie: to even
  EXPECT_EQ(half::to_f16(1.0f + 3.0f / 2048.0f), 0x3c02);   // a tie: to even (up)
  EXPECT_EQ(half::to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(half::to_bf16(0.1f), 0x3dcd);
  EXPECT_EQ(half::to_bf16(3.14159265f), 0x4049);
  EXPECT_EQ(half::to_bf16(-1e30f), 0xf14a);  // as PyTorch rounds it
  EXPECT_TRUE(std::isnan(half::from_f16(half::to_f16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(half::from_bf16(half::to_bf16(std::nanf("")))));
  EXPECT_EQ(half::from_f16(half::to_f16(-std::numeric_limits<float>::infinity())),
            -std::numeric_limits<float>::infinity());
}

TEST(Half, EveryValueRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const float f16 = half::from_f16(bits);
    if (!std::isnan(f16)) {
      EXPECT_EQ(half::to_f16(f16), bits) << std::hex << h;
    }
    const float bf = half::from_bf16(bits);
    if (!std::isnan(bf)) {
      EXPECT_EQ(half::to_bf16(bf), bits) << std::hex << h;
    }
  }
}

TEST(Half, Float16ScaleIsAPowerOfTwoThatFits) {
  EXPECT_EQ(half::f16_scale(0.0f, 4), 1.0f);
  EXPECT_EQ(half::f16_scale(std::numeric_limits<float>::infinity(), 4), 1.0f);
  EXPECT_EQ(half::f16_scale(1.0f, 1), 32768.0f);
  EXPECT_EQ(half::f16_scale(1.0f, 3), 8192.0f);  // 32768 / 3 rounded down to a power of two
  EXPECT_EQ(half::f16_scale(1e-12f, 2), 16777216.0f);  // capped at 2^24
}

std::vector<float> rank_values(int rank, size_t n, float magnitude) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = magnitude * std::sin(0.37f * static_cast<float>(i) + 1.3f * static_cast<float>(rank));
  return v;
}

void check_compressed(WireType wire, float magnitude, double rel_tol) {
  MpiCommunicator comm;
  const int p = comm.size();
  const size_t n = 3001;
  std::vector<float> data = rank_values(comm.rank(), n, magnitude);
  std::vector<double> exact(n, 0.0);
  for (int r = 0; r < p; ++r) {
    const std::vector<float> v = rank_values(r, n, magnitude);
    for (size_t i = 0; i < n; ++i) exact[i] += v[i];
  }
  auto req = comm.allreduce_compressed_async(std::span<float>(data), ReduceOp::kAvg, wire);
  while (!req->test()) {
  }
  req->wait();
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(std::isfinite(data[i])) << i;
    const double want = exact[i] / p;
    worst = std::max(worst, std::abs(data[i] - want) / (magnitude * 1.0));
  }
  EXPECT_LT(worst, rel_tol) << to_string(wire) << " magnitude " << magnitude;
  EXPECT_GT(worst, 0.0) << "16-bit values cannot be exact here";
}

TEST(Compressed, AveragesWithinTheTypesRounding) {
  // bfloat16 keeps 8 bits: each value and each partial sum within 2^-8 relative.
  check_compressed(WireType::kBF16, 1.0f, 0.02);
  check_compressed(WireType::kBF16, 1e-20f, 0.02);  // float32's range
  // binary16 keeps 11 bits; the agreed scale keeps huge and tiny gradients in range.
  check_compressed(WireType::kF16, 1.0f, 0.003);
  check_compressed(WireType::kF16, 1e6f, 0.003);   // beyond 65504 without the scale
  check_compressed(WireType::kF16, 1e-7f, 0.003);  // below the subnormals without it
}

TEST(Compressed, NanSurvivesAndFloat32IsTheUsualAllreduce) {
  MpiCommunicator comm;
  std::vector<float> data{1.0f, 2.0f};
  if (comm.rank() == comm.size() - 1) data[1] = std::nanf("");
  for (WireType w : {WireType::kBF16, WireType::kF16}) {
    std::vector<float> d = data;
    comm.allreduce_compressed_async(std::span<float>(d), ReduceOp::kSum, w)->wait();
    EXPECT_EQ(d[0], static_cast<float>(comm.size()));
    EXPECT_TRUE(std::isnan(d[1])) << to_string(w);
  }
  std::vector<float> f{static_cast<float>(comm.rank())};
  comm.allreduce_compressed_async(std::span<float>(f), ReduceOp::kSum, WireType::kF32)->wait();
  EXPECT_EQ(f[0], static_cast<float>(comm.size() * (comm.size() - 1) / 2));
  EXPECT_EQ(parse_wire_type("bf16"), WireType::kBF16);
  EXPECT_THROW(parse_wire_type("fp8"), Error);
}

TEST(Compressed, ReducerSendsItsBucketsAsTheWireType) {
  MpiCommunicator comm;
  const int p = comm.size();
  std::vector<float> grads(1000);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.001f * static_cast<float>(i % 97 + comm.rank());
  Reducer reducer(comm, std::span<float>(grads), {{0, 400}, {400, 1000}}, 256 * sizeof(float), true,
                  WireType::kBF16);
  reducer.layer_done(1);
  reducer.layer_done(0);
  reducer.finalize();
  for (size_t i = 0; i < grads.size(); ++i) {
    const double want = 0.001 * (static_cast<double>(i % 97) + (p - 1) / 2.0);
    EXPECT_NEAR(grads[i], want, 0.01 * want + 1e-6) << i;
  }
  const auto& times = reducer.bucket_times();
  ASSERT_EQ(times.size(), 2u);
  for (const auto& t : times) EXPECT_GE(t.completed, t.launched);
}

}  // namespace
}  // namespace lockstep::comm
