// Loss ops (ops/loss.hpp): argument checks, dispatch to ops/loss.cu for
// device tensors, the CPU reference (sums in double).

#include "core/ops/loss.hpp"

#include <cmath>

#include "core/ops/check.hpp"

namespace lockstep::ops {
namespace {

using detail::check_on;
using detail::check_same;
using detail::dispatch_real;

}  // namespace

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double grad_scale,
                           Tensor& loss, Tensor& correct, Tensor* dlogits) {
  check_on(logits, logits.device(), "softmax_cross_entropy", "logits");
  check_on(labels, logits.device(), "softmax_cross_entropy", "labels");
  LOCKSTEP_CHECK(logits.rank() == 2, "softmax_cross_entropy: expected logits (N, K), got "
                                         << shape_str(logits.shape()));
  const int64_t n = logits.dim(0), k = logits.dim(1);
  LOCKSTEP_CHECK(labels.dtype() == DType::kI32 && labels.numel() == n,
                 "softmax_cross_entropy: expected " << n << " int32 class ids, got "
                                                    << shape_str(labels.shape()) << " "
                                                    << to_string(labels.dtype()));
  LOCKSTEP_CHECK(loss.numel() == n && loss.dtype() == DType::kF64 && correct.numel() == n &&
                     correct.dtype() == DType::kI32,
                 "softmax_cross_entropy: loss/correct outputs must hold " << n << " rows");
  if (dlogits) check_same(logits, *dlogits, "softmax_cross_entropy");
  check_on(loss, logits.device(), "softmax_cross_entropy", "loss");
  check_on(correct, logits.device(), "softmax_cross_entropy", "correct");
  if (dlogits) check_on(*dlogits, logits.device(), "softmax_cross_entropy", "dlogits");
  if (logits.device() == Device::kCuda)
    return cuda::softmax_cross_entropy(logits, labels, grad_scale, loss, correct, dlogits);
  const int32_t* pl = labels.data<int32_t>();
  double* ploss = loss.data<double>();
  int32_t* pc = correct.data<int32_t>();
  dispatch_real(logits.dtype(), "softmax_cross_entropy", [&]<class T>() {
    const T* pz = logits.data<T>();
    T* pd = dlogits ? dlogits->data<T>() : nullptr;
    for (int64_t r = 0; r < n; ++r) {
      const T* z = pz + r * k;
      const int32_t label = pl[r];
      LOCKSTEP_CHECK(label >= 0 && label < k, "class id " << label << " in batch row " << r
                                                          << " is outside the model's " << k
                                                          << " classes [0, " << k << ")");
      int64_t arg = 0;
      for (int64_t j = 1; j < k; ++j)
        if (z[j] > z[arg]) arg = j;
      const double zmax = static_cast<double>(z[arg]);
      double sum = 0.0;
      for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(z[j]) - zmax);
      const double log_sum = std::log(sum);
      ploss[r] = log_sum + zmax - static_cast<double>(z[label]);
      pc[r] = arg == label ? 1 : 0;
      if (pd) {
        T* d = pd + r * k;
        for (int64_t j = 0; j < k; ++j) {
          const double prob = std::exp(static_cast<double>(z[j]) - zmax - log_sum);
          d[j] = static_cast<T>(grad_scale * (prob - (j == label ? 1.0 : 0.0)));
        }
      }
    }
  });
}

void mse(const Tensor& out, const Tensor& targets, double grad_scale, Tensor& loss, Tensor* dout) {
  check_on(out, out.device(), "mse", "out");
  check_on(targets, out.device(), "mse", "targets");
  LOCKSTEP_CHECK(out.rank() == 2, "mse: expected outputs (N, K), got " << shape_str(out.shape()));
  const int64_t n = out.dim(0), k = out.dim(1);
  LOCKSTEP_CHECK(targets.numel() == n * k && targets.dtype() == out.dtype(),
                 "mse: expected targets of " << n << "x" << k << " " << to_string(out.dtype())
                                             << ", got " << shape_str(targets.shape()) << " "
                                             << to_string(targets.dtype()));
  LOCKSTEP_CHECK(loss.numel() == n && loss.dtype() == DType::kF64,
                 "mse: loss output must hold " << n << " float64 rows");
  if (dout) check_same(out, *dout, "mse");
  check_on(loss, out.device(), "mse", "loss");
  if (dout) check_on(*dout, out.device(), "mse", "dout");
  if (out.device() == Device::kCuda) return cuda::mse(out, targets, grad_scale, loss, dout);
  double* ploss = loss.data<double>();
  dispatch_real(out.dtype(), "mse", [&]<class T>() {
    const T* po = out.data<T>();
    const T* pt = targets.data<T>();
    T* pd = dout ? dout->data<T>() : nullptr;
    for (int64_t r = 0; r < n; ++r) {
      double s = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const double e = static_cast<double>(po[r * k + j]) - static_cast<double>(pt[r * k + j]);
        s += e * e;
        if (pd) pd[r * k + j] = static_cast<T>(grad_scale * 2.0 * e / static_cast<double>(k));
      }
      ploss[r] = s / static_cast<double>(k);
    }
  });
}

void loss_totals(const Tensor& loss, const Tensor& correct, double loss_scale, int64_t row_offset,
                 Tensor& totals) {
  const int64_t n = loss.numel();
  LOCKSTEP_CHECK(
      loss.dtype() == DType::kF64 && correct.dtype() == DType::kI32 && correct.numel() == n,
      "loss_totals: expected (N,) float64 losses and (N,) int32 hits, got "
          << shape_str(loss.shape()) << " " << to_string(loss.dtype()) << " and "
          << shape_str(correct.shape()) << " " << to_string(correct.dtype()));
  LOCKSTEP_CHECK(totals.dtype() == DType::kF64 && totals.numel() == kLossTotals,
                 "loss_totals: expected " << kLossTotals << " float64 totals, got "
                                          << shape_str(totals.shape()) << " "
                                          << to_string(totals.dtype()));
  check_on(correct, loss.device(), "loss_totals", "correct");
  check_on(totals, loss.device(), "loss_totals", "totals");
  if (loss.device() == Device::kCuda)
    return cuda::loss_totals(loss, correct, loss_scale, row_offset, totals);
  const double* l = loss.data<double>();
  const int32_t* c = correct.data<int32_t>();
  double* t = totals.data<double>();
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += l[i];
  t[kTotalLoss] += sum * loss_scale;
  for (int64_t i = 0; i < n; ++i) {
    if (c[i] < 0) {
      if (t[kTotalBadRow] == 0) t[kTotalBadRow] = static_cast<double>(1 + row_offset + i);
    } else {
      t[kTotalCorrect] += c[i];
    }
  }
}

}  // namespace lockstep::ops
