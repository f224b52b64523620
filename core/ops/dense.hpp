#pragma once
// Dense ops: GEMM and the row bias of fully connected layers. CPU reference
// through CBLAS (OpenBLAS) in fixed tiles (gemm_cpu.hpp), float32 and float64;
// CUDA through cuBLAS (dense.cu). Letters: N batch rows, I inputs, O outputs.
//
// Each op checks its arguments here (ops/dense.cpp) and runs the CPU reference
// (float32 and float64) or the CUDA version (ops/dense.cu, float32; the
// `cuda` block below, which callers never use directly).

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// C = alpha * op(A) * op(B) + beta * C for 2-D tensors (op = transpose when flagged).
void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          Tensor& c);
/// y (N, O) += bias (O) on every row.
void add_row_bias(Tensor& y, const Tensor& bias);
/// acc_db (O) += column sums of dy (N, O).
void acc_column_sums(const Tensor& dy, Tensor& acc_db);

namespace cuda {
void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          Tensor& c);
void add_row_bias(Tensor& y, const Tensor& bias);
void acc_column_sums(const Tensor& dy, Tensor& acc_db);
}  // namespace cuda

}  // namespace lockstep::ops
