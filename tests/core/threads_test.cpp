// The CPU thread pool (core/threads.hpp) and the ops that split their work over
// it: every index covered once, exceptions carried to the caller, nesting
// serial; GEMM (fixed tiles), convolution forward/dx/dW (fixed chunk groups),
// pooling and element-wise ops give the same bits on 1 to 4 threads, whatever
// OpenBLAS kernel runs (CI runs this under several OPENBLAS_CORETYPE values).

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "core/ops/activation.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/dense.hpp"
#include "core/ops/pool.hpp"
#include "core/rng.hpp"
#include "core/threads.hpp"

namespace lockstep {
namespace {

class Threads : public testing::Test {
 protected:
  void SetUp() override { saved_ = cpu_threads(); }
  void TearDown() override { set_cpu_threads(saved_); }
  int saved_ = 1;
};

Tensor random(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s, DType::kF32);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = static_cast<float>(2.0 * rng.uniform() - 1.0);
  return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a.data<float>()[i] != b.data<float>()[i]) return false;
  return true;
}

TEST_F(Threads, EveryIndexOnceInContiguousParts) {
  for (int threads : {1, 2, 3, 5}) {
    set_cpu_threads(threads);
    for (int64_t n : {0, 1, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> parts{0};
      parallel_for(n, 4, [&](int, int64_t b, int64_t e) {
        ++parts;
        for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
      });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)], 1) << n << " " << i;
      EXPECT_EQ(parts, n == 0 ? 0 : parallel_parts(n, 4)) << threads << " threads, n " << n;
      EXPECT_LE(parallel_parts(n, 4), threads);
    }
  }
}

TEST_F(Threads, ExceptionsReachTheCallerAndThePoolGoesOn) {
  set_cpu_threads(3);
  EXPECT_THROW(parallel_for(300, 1,
                            [](int part, int64_t, int64_t) {
                              if (part == 2) throw std::runtime_error("part 2 failed");
                            }),
               std::runtime_error);
  std::atomic<int64_t> sum{0};
  parallel_for(300, 1, [&](int, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum, 299 * 300 / 2);
}

TEST_F(Threads, NestedCallsRunSerially) {
  set_cpu_threads(2);
  std::atomic<int> inner_parts{0};
  parallel_for(100, 1, [&](int, int64_t, int64_t) {
    EXPECT_EQ(parallel_parts(1000, 1), 1);
    parallel_for(1000, 1, [&](int, int64_t, int64_t) { ++inner_parts; });
  });
  EXPECT_EQ(inner_parts, 2);
}

TEST_F(Threads, GemmIsBitIdenticalOnAnyNumberOfThreads) {
  struct Case {
    int64_t m, n, k;
    bool ta, tb;
  };
  for (const Case& c : {Case{64, 256, 784, false, true}, Case{256, 784, 64, true, false},
                        Case{64, 784, 256, false, false}, Case{300, 40, 90, true, true},
                        Case{130, 261, 33, false, true}, Case{1000, 10, 256, false, true}}) {
    const Tensor a = random(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, 1);
    const Tensor b = random(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, 2);
    const Tensor c0 = random({c.m, c.n}, 3);
    std::vector<Tensor> out;
    for (int threads : {1, 2, 3, 4}) {
      set_cpu_threads(threads);
      Tensor r = Tensor::empty({c.m, c.n}, DType::kF32);
      r.copy_from(c0);
      ops::gemm(c.ta, c.tb, 0.5, a, b, 1.0, r);
      out.push_back(r);
    }
    for (size_t t = 1; t < out.size(); ++t)
      EXPECT_TRUE(same_bits(out[0], out[t])) << c.m << "x" << c.n << "x" << c.k << ", " << t + 1;
  }
}

TEST_F(Threads, ConvolutionPoolingAndReluAgreeAcrossThreadCounts) {
  const Tensor x = random({37, 3, 17, 15}, 4), w = random({8, 3, 3, 3}, 5), b = random({8}, 6);
  const Shape ys{37, 8, 9, 8};  // stride 2, padding 1
  const Tensor dy = random(ys, 7);
  const Tensor big = random({300000}, 8);  // over the element-wise split size
  struct Result {
    Tensor y, dx, dw, db, pooled, index, dpool, relu;
  };
  std::vector<Result> results;
  for (int threads : {1, 2, 3}) {
    set_cpu_threads(threads);
    Result r{Tensor::empty(ys, DType::kF32),
             Tensor::empty(x.shape(), DType::kF32),
             Tensor::zeros(w.shape(), DType::kF32),
             Tensor::zeros({8}, DType::kF32),
             Tensor::empty({37, 3, 8, 7}, DType::kF32),
             Tensor::empty({37, 3, 8, 7}, DType::kI32),
             Tensor::empty(x.shape(), DType::kF32),
             Tensor::empty(big.shape(), DType::kF32)};
    Tensor workspace;
    ops::conv2d_forward(x, w, b, 2, 1, r.y, workspace);
    ops::conv2d_backward(x, w, dy, 2, 1, &r.dx, r.dw, &r.db, workspace);
    ops::maxpool2d_forward(x, 2, 2, 0, r.pooled, r.index);
    ops::maxpool2d_backward(r.pooled, r.index, 2, 2, 0, r.dpool);
    ops::relu_forward(big, r.relu);
    results.push_back(std::move(r));
  }
  for (size_t t = 1; t < results.size(); ++t) {
    const Result& a = results[0];
    const Result& r = results[t];
    EXPECT_TRUE(same_bits(a.y, r.y)) << "conv forward, " << t + 1 << " threads";
    EXPECT_TRUE(same_bits(a.dx, r.dx)) << "conv dx, " << t + 1 << " threads";
    EXPECT_TRUE(same_bits(a.db, r.db)) << "conv db, " << t + 1 << " threads";
    EXPECT_TRUE(same_bits(a.pooled, r.pooled)) << "maxpool, " << t + 1 << " threads";
    EXPECT_TRUE(same_bits(a.dpool, r.dpool)) << "maxpool backward, " << t + 1 << " threads";
    EXPECT_TRUE(same_bits(a.relu, r.relu)) << "relu, " << t + 1 << " threads";
    EXPECT_TRUE(same_bits(a.dw, r.dw)) << "conv dw, " << t + 1 << " threads";
  }
}

}  // namespace
}  // namespace lockstep
