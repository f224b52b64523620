#include "core/loss.hpp"

#include "core/ops/loss.hpp"

namespace lockstep {

LossKind parse_loss(const std::string& name) {
  if (name == "cross_entropy" || name == "softmax_cross_entropy") return LossKind::kCrossEntropy;
  if (name == "mse") return LossKind::kMse;
  LOCKSTEP_FAIL("loss: expected 'cross_entropy' or 'mse', got '" << name << "'");
}

const char* to_string(LossKind k) {
  return k == LossKind::kCrossEntropy ? "cross_entropy" : "mse";
}

LossSums Loss::compute(const Tensor& out, const Tensor& targets, int64_t mean_over, Tensor* dout) {
  LOCKSTEP_CHECK(out.rank() == 2,
                 "loss: expected model output (N, K), got " << shape_str(out.shape()));
  LOCKSTEP_CHECK(mean_over > 0,
                 "loss: expected a positive row count for the mean, got " << mean_over);
  const int64_t n = out.dim(0);
  const Device dev = out.device();
  ensure_shape(loss_, {n}, DType::kF64, dev);
  ensure_shape(correct_, {n}, DType::kI32, dev);
  const double scale = 1.0 / static_cast<double>(mean_over);
  LossSums sums;
  sums.rows = n;
  if (kind_ == LossKind::kCrossEntropy) {
    ops::softmax_cross_entropy(out, targets, scale, loss_, correct_, dout);
  } else {
    ops::mse(out, targets, scale, loss_, dout);
    correct_.zero();
  }
  // The sums are taken on the host (exact, and the same on every device); on
  // a GPU that needs the per-row figures back: 12 bytes a row.
  if (dev == Device::kCpu) {
    loss_host_ = loss_;
    correct_host_ = correct_;
  } else {
    ensure_shape(loss_host_, {n}, DType::kF64, Device::kCpu);
    ensure_shape(correct_host_, {n}, DType::kI32, Device::kCpu);
    loss_host_.copy_from(loss_);
    correct_host_.copy_from(correct_);
  }
  const int32_t* c = correct_host_.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    // The GPU kernel marks a class id outside [0, K) with -1 (the CPU op throws).
    LOCKSTEP_CHECK(c[i] >= 0, "a class id in batch row " << i << " is outside the model's "
                                                         << out.dim(1) << " classes");
    sums.correct += c[i];
  }
  const double* l = loss_host_.data<double>();
  for (int64_t i = 0; i < n; ++i) sums.loss += l[i];
  return sums;
}

}  // namespace lockstep
