#pragma once
// Internal to the CPU ops (ops/dense.cpp, ops/conv.cpp): GEMM through CBLAS,
// split over the CPU threads.
//
// Note: GEMM tiles. OpenBLAS does not promise that an element of C gets the
// same bits in calls of different shapes: its Haswell, Zen and SkylakeX
// kernels compute a row differently depending on how many rows the call has
// and where the row sits in it. So C is always cut into the same fixed tiles
// of kTileRows x kTileCols (the last row and column of tiles partial),
// whatever the number of threads, and each tile is one single-threaded CBLAS
// call over the whole k; threads only choose which tiles they compute. The
// result then depends on (m, n, k) and the operands alone, never on the thread
// count, by construction. (It may depend on m: evaluation and prediction keep
// every row in a batch of the same rows on any number of ranks for that reason.)

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/threads.hpp"

namespace lockstep::ops::detail {

// Multiples of every OpenBLAS sgemm/dgemm unroll, so that only the edge tiles
// are partial; large enough that packing each tile's panels costs little.
inline constexpr int64_t kTileRows = 64, kTileCols = 128;

// Row-major C (m, n) = alpha op(A) op(B) + beta C through CBLAS, tile by tile
// (see "Note: GEMM tiles"); the tiles are split over the CPU threads
// (core/threads.hpp) when the product is large enough.
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
  if (m <= 0 || n <= 0) return;
  const int64_t row_tiles = (m + kTileRows - 1) / kTileRows;
  const int64_t col_tiles = (n + kTileCols - 1) / kTileCols;
  // A thread's start costs more than it saves below about 2^18 multiply-adds.
  constexpr int64_t kMinWork = int64_t{1} << 18;
  const int64_t tile_work = std::max<int64_t>(1, kTileRows * kTileCols * std::max<int64_t>(k, 1));
  const int64_t min_tiles = std::max<int64_t>(1, kMinWork / tile_work);
  // Tiles in row-major order: a part's tiles share rows of op(A).
  parallel_for(row_tiles * col_tiles, min_tiles, [&](int, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t / col_tiles * kTileRows, c0 = t % col_tiles * kTileCols;
      const T* pa = ta ? a + r0 : a + r0 * lda;  // rows r0.. of op(A)
      const T* pb = tb ? b + c0 * ldb : b + c0;  // columns c0.. of op(B)
      one(std::min(kTileRows, m - r0), std::min(kTileCols, n - c0), pa, pb, c + r0 * ldc + c0);
    }
  });
}

}  // namespace lockstep::ops::detail
