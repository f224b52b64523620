#pragma once
// Internal to the CPU ops (ops_cpu.cpp, ops_conv_cpu.cpp): GEMM through CBLAS,
// split over the CPU threads.

#include <cblas.h>

#include <cstdint>
#include <type_traits>

#include "core/threads.hpp"

namespace lockstep::ops::detail {

// Row-major C (m, n) = alpha op(A) op(B) + beta C through CBLAS, with C split
// into row or column blocks over the CPU threads (core/threads.hpp) when the
// product is large enough; each block is one single-threaded GEMM. The sum
// over k is never split, so every element is computed the same way whatever
// the number of threads.
template <class T>
void gemm_cpu(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
              const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const auto one = [&](int64_t mm, int64_t nn, const T* pa, const T* pb, T* pc) {
    const auto i = [](int64_t v) { return static_cast<int>(v); };
    const auto op = [](bool t) { return t ? CblasTrans : CblasNoTrans; };
    if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, op(ta), op(tb), i(mm), i(nn), i(k), alpha, pa, i(lda), pb, i(ldb),
                  beta, pc, i(ldc));
    } else {
      cblas_dgemm(CblasRowMajor, op(ta), op(tb), i(mm), i(nn), i(k), alpha, pa, i(lda), pb, i(ldb),
                  beta, pc, i(ldc));
    }
  };
  // Below about 2^18 multiply-adds a thread's start costs more than it saves.
  constexpr int64_t kMinWork = int64_t{1} << 18, kMinBlock = 16;
  if (m * n * k < kMinWork || cpu_threads() == 1) return one(m, n, a, b, c);
  if (n >= m) {  // column blocks: op(B) columns c0..c1
    parallel_for(n, kMinBlock, [&](int, int64_t c0, int64_t c1) {
      one(m, c1 - c0, a, tb ? b + c0 * ldb : b + c0, c + c0);
    });
  } else {  // row blocks: op(A) rows r0..r1
    parallel_for(m, kMinBlock, [&](int, int64_t r0, int64_t r1) {
      one(r1 - r0, n, ta ? a + r0 : a + r0 * lda, b, c + r0 * ldc);
    });
  }
}

}  // namespace lockstep::ops::detail
