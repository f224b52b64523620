#pragma once
// Shared by the CUDA-vs-CPU suites: a fixture that skips without a GPU, random
// host tensors, host<->device copies, and a tolerance check
// |gpu - cpu| <= atol + rtol |cpu| that reports the first few mismatches.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/device.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace lockstep::test {

class CudaTest : public testing::Test {
 protected:
  void SetUp() override {
    if (device::count() == 0) GTEST_SKIP() << "no GPU visible";
    device::select(0, device::Precision::kFp32);
  }
};

inline Tensor random_host(const Shape& s, uint64_t seed, float scale = 1.0f) {
  Tensor t = Tensor::empty(s, DType::kF32);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = scale * static_cast<float>(2.0 * rng.uniform() - 1.0);
  return t;
}

inline Tensor to_gpu(const Tensor& h) {
  Tensor d = Tensor::empty(h.shape(), h.dtype(), Device::kCuda);
  d.copy_from(h);
  return d;
}

inline Tensor to_host(const Tensor& d) {
  Tensor h = Tensor::empty(d.shape(), d.dtype());
  h.copy_from(d);
  return h;
}

inline double element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kF32:
      return t.data<float>()[i];
    case DType::kF64:
      return t.data<double>()[i];
    case DType::kI32:
      return t.data<int32_t>()[i];
    case DType::kU8:
      return t.data<uint8_t>()[i];
  }
  return 0;
}

// |gpu - cpu| <= atol + rtol |cpu| + sum_eps * magnitude[i] for every element.
// `magnitude`, where given, holds the sum of the absolute values of the terms
// that make up each element (e.g. sum |x| |dy| for a weight gradient): a long
// float32 reduction summed in another order differs by up to a few ulps of that
// sum, however small the result is after cancellation.
inline void expect_close(const Tensor& cpu, const Tensor& gpu, double atol, double rtol,
                         const std::string& what, const Tensor* magnitude = nullptr,
                         double sum_eps = 0) {
  const Tensor g = to_host(gpu);
  ASSERT_EQ(cpu.numel(), g.numel()) << what;
  if (magnitude) {
    ASSERT_EQ(cpu.numel(), magnitude->numel()) << what;
  }
  int bad = 0;
  for (int64_t i = 0; i < cpu.numel() && bad < 5; ++i) {
    const double a = element(cpu, i), b = element(g, i);
    const double m = magnitude ? sum_eps * element(*magnitude, i) : 0.0;
    if (!(std::abs(a - b) <= atol + rtol * std::abs(a) + m)) {
      ADD_FAILURE() << what << "[" << i << "]: cpu " << a << " gpu " << b
                    << (magnitude
                            ? " (sum of |terms| " + std::to_string(element(*magnitude, i)) + ")"
                            : std::string());
      ++bad;
    }
  }
}

/// Element-wise absolute values of a host float32 tensor.
inline Tensor abs_host(const Tensor& t) {
  Tensor r = Tensor::empty(t.shape(), DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) r.data<float>()[i] = std::abs(t.data<float>()[i]);
  return r;
}

}  // namespace lockstep::test
