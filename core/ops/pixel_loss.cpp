// Per-pixel cross-entropy (ops/pixel_loss.hpp): argument checks, dispatch to
// ops/pixel_loss.cu for device tensors, the CPU reference (sums in double).

#include "core/ops/pixel_loss.hpp"

#include <cmath>

#include "core/ops/check.hpp"
#include "core/threads.hpp"

namespace lockstep::ops {

using detail::check_on;
using detail::check_same;
using detail::dispatch_real;

void pixel_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& class_weights,
                         int64_t ignore_index, double grad_scale, Tensor& loss, Tensor& weight,
                         Tensor& correct, Tensor* dlogits, Tensor& workspace) {
  const char* op = "pixel_cross_entropy";
  check_on(logits, logits.device(), op, "logits");
  check_on(labels, logits.device(), op, "labels");
  LOCKSTEP_CHECK(logits.rank() >= 2,
                 op << ": expected logits (N, C, ...), got " << shape_str(logits.shape()));
  const int64_t n = logits.dim(0), c = logits.dim(1), p = n ? logits.numel() / (n * c) : 0;
  LOCKSTEP_CHECK(labels.dtype() == DType::kI32 && labels.numel() == n * p,
                 op << ": expected " << n << "x" << p << " int32 class ids for logits "
                    << shape_str(logits.shape()) << ", got " << shape_str(labels.shape()) << " "
                    << to_string(labels.dtype()));
  if (class_weights.defined()) {
    check_on(class_weights, logits.device(), op, "class_weights");
    LOCKSTEP_CHECK(class_weights.dtype() == DType::kF64 && class_weights.numel() == c,
                   op << ": expected " << c << " float64 class weights, got "
                      << shape_str(class_weights.shape()) << " "
                      << to_string(class_weights.dtype()));
  }
  for (Tensor* t : {&loss, &weight, &correct})
    check_on(*t, logits.device(), op, "loss/weight/correct");
  LOCKSTEP_CHECK(loss.numel() == n && loss.dtype() == DType::kF64 && weight.numel() == n &&
                     weight.dtype() == DType::kF64 && correct.numel() == n &&
                     correct.dtype() == DType::kI32,
                 op << ": loss/weight (float64) and correct (int32) must hold " << n << " samples");
  if (dlogits) {
    check_on(*dlogits, logits.device(), op, "dlogits");
    check_same(logits, *dlogits, op);
  }
  if (n == 0) return;
  if (logits.device() == Device::kCuda)
    return cuda::pixel_cross_entropy(logits, labels, class_weights, ignore_index, grad_scale, loss,
                                     weight, correct, dlogits, workspace);
  const int32_t* pl = labels.data<int32_t>();
  const double* pw = class_weights.defined() ? class_weights.data<double>() : nullptr;
  double* ploss = loss.data<double>();
  double* pweight = weight.data<double>();
  int32_t* pc = correct.data<int32_t>();
  dispatch_real(logits.dtype(), op, [&]<class T>() {
    const T* pz = logits.data<T>();
    T* pd = dlogits ? dlogits->data<T>() : nullptr;
    parallel_for(n, 1, [&](int, int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        double sum_loss = 0.0, sum_weight = 0.0;
        int32_t hits = 0;
        for (int64_t q = 0; q < p; ++q) {
          const T* z = pz + s * c * p + q;  // class j at z[j * p]
          T* d = pd ? pd + s * c * p + q : nullptr;
          const int32_t label = pl[s * p + q];
          if (label == ignore_index) {
            if (d)
              for (int64_t j = 0; j < c; ++j) d[j * p] = T(0);
            continue;
          }
          LOCKSTEP_CHECK(label >= 0 && label < c, "class id " << label << " at pixel " << q
                                                              << " of batch sample " << s
                                                              << " is outside the model's " << c
                                                              << " classes [0, " << c << ")");
          const double w = pw ? pw[label] : 1.0;
          int64_t arg = 0;
          for (int64_t j = 1; j < c; ++j)
            if (z[j * p] > z[arg * p]) arg = j;
          const double zmax = static_cast<double>(z[arg * p]);
          double sum = 0.0;
          for (int64_t j = 0; j < c; ++j) sum += std::exp(static_cast<double>(z[j * p]) - zmax);
          const double log_sum = std::log(sum);
          sum_loss += w * (log_sum + zmax - static_cast<double>(z[label * p]));
          sum_weight += w;
          hits += arg == label ? 1 : 0;
          if (d)
            for (int64_t j = 0; j < c; ++j) {
              const double prob = std::exp(static_cast<double>(z[j * p]) - zmax - log_sum);
              d[j * p] = static_cast<T>(grad_scale * w * (prob - (j == label ? 1.0 : 0.0)));
            }
        }
        ploss[s] = sum_loss;
        pweight[s] = sum_weight;
        pc[s] = hits;
      }
    });
  });
}

}  // namespace lockstep::ops
