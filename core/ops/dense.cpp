// Dense ops (ops/dense.hpp): argument checks, dispatch to ops/dense.cu for
// device tensors, the CPU reference through CBLAS in fixed tiles.

#include "core/ops/dense.hpp"

#include "core/ops/check.hpp"
#include "core/ops/elementwise.hpp"
#include "core/ops/gemm_cpu.hpp"

namespace lockstep::ops {
namespace {

using detail::check_on;
using detail::dispatch_real;

int64_t cols_of(const Tensor& t) {
  return t.rank() == 0 || t.dim(0) == 0 ? 0 : t.numel() / t.dim(0);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          Tensor& c) {
  check_on(a, a.device(), "gemm", "a");
  check_on(b, a.device(), "gemm", "b");
  check_on(c, a.device(), "gemm", "c");
  LOCKSTEP_CHECK(a.rank() == 2 && b.rank() == 2 && c.rank() == 2,
                 "gemm: expected 2-D operands, got " << shape_str(a.shape()) << ", "
                                                     << shape_str(b.shape()) << ", "
                                                     << shape_str(c.shape()));
  LOCKSTEP_CHECK(a.dtype() == b.dtype() && b.dtype() == c.dtype(),
                 "gemm: operands differ in dtype");
  const int64_t m = trans_a ? a.dim(1) : a.dim(0);
  const int64_t k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  LOCKSTEP_CHECK(k == kb && c.dim(0) == m && c.dim(1) == n,
                 "gemm: shapes do not agree: op(a) " << m << "x" << k << ", op(b) " << kb << "x"
                                                     << n << ", c " << shape_str(c.shape()));
  if (m == 0 || n == 0) return;
  if (a.device() == Device::kCuda) return cuda::gemm(trans_a, trans_b, alpha, a, b, beta, c);
  if (k == 0) {
    scale(c, beta);
    return;
  }
  dispatch_real(a.dtype(), "gemm", [&]<class T>() {
    detail::gemm_cpu<T>(trans_a, trans_b, m, n, k, static_cast<T>(alpha), a.data<T>(), a.dim(1),
                        b.data<T>(), b.dim(1), static_cast<T>(beta), c.data<T>(), c.dim(1));
  });
}

void add_row_bias(Tensor& y, const Tensor& bias) {
  check_on(y, y.device(), "add_row_bias", "y");
  check_on(bias, y.device(), "add_row_bias", "bias");
  const int64_t rows = y.rank() ? y.dim(0) : 0, cols = cols_of(y);
  LOCKSTEP_CHECK(
      bias.numel() == cols && bias.dtype() == y.dtype(),
      "add_row_bias: expected a bias of " << cols << " elements, got " << shape_str(bias.shape()));
  if (y.device() == Device::kCuda) return cuda::add_row_bias(y, bias);
  dispatch_real(y.dtype(), "add_row_bias", [&]<class T>() {
    T* py = y.data<T>();
    const T* pb = bias.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) py[r * cols + c] += pb[c];
  });
}

void acc_column_sums(const Tensor& dy, Tensor& acc_db) {
  check_on(dy, dy.device(), "acc_column_sums", "dy");
  check_on(acc_db, dy.device(), "acc_column_sums", "acc_db");
  const int64_t rows = dy.rank() ? dy.dim(0) : 0, cols = cols_of(dy);
  LOCKSTEP_CHECK(
      acc_db.numel() == cols && acc_db.dtype() == dy.dtype(),
      "acc_column_sums: expected " << cols << " sums, got " << shape_str(acc_db.shape()));
  if (dy.device() == Device::kCuda) return cuda::acc_column_sums(dy, acc_db);
  dispatch_real(dy.dtype(), "acc_column_sums", [&]<class T>() {
    const T* pd = dy.data<T>();
    T* pb = acc_db.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) pb[c] += pd[r * cols + c];
  });
}

}  // namespace lockstep::ops
