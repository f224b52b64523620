#include "core/loss.hpp"

#include <algorithm>
#include <cmath>

#include "core/ops/loss.hpp"
#include "core/ops/pixel_loss.hpp"

namespace lockstep {

LossKind parse_loss(const std::string& name) {
  if (name == "cross_entropy" || name == "softmax_cross_entropy") return LossKind::kCrossEntropy;
  if (name == "mse") return LossKind::kMse;
  LOCKSTEP_FAIL("loss: expected 'cross_entropy' or 'mse', got '" << name << "'");
}

const char* to_string(LossKind k) {
  return k == LossKind::kCrossEntropy ? "cross_entropy" : "mse";
}

Loss::Loss(LossKind kind, LossOptions options) : kind_(kind), options_(std::move(options)) {
  for (size_t c = 0; c < options_.class_weights.size(); ++c)
    LOCKSTEP_CHECK(options_.class_weights[c] >= 0 && std::isfinite(options_.class_weights[c]),
                   "loss: class weights must be finite and >= 0, got " << options_.class_weights[c]
                                                                       << " for class " << c);
  LOCKSTEP_CHECK(kind_ == LossKind::kCrossEntropy ||
                     (!options_.ignore_index && options_.class_weights.empty()),
                 "loss: model.ignore_index and model.class_weights apply to cross_entropy, got "
                 "model.loss = "
                     << to_string(kind_));
}

void Loss::check_pixel_targets(const Tensor& out, const Tensor& targets) const {
  const int64_t n = out.dim(0), c = out.dim(1);
  Shape want{n};
  want.insert(want.end(), out.shape().begin() + 2, out.shape().end());
  LOCKSTEP_CHECK(targets.dtype() == DType::kI32 && targets.numel() == shape_numel(want),
                 "loss: per-pixel cross-entropy on output "
                     << shape_str(out.shape()) << " expects int32 class ids " << shape_str(want)
                     << ", got " << shape_str(targets.shape()) << " "
                     << to_string(targets.dtype()));
  LOCKSTEP_CHECK(
      options_.class_weights.empty() || static_cast<int64_t>(options_.class_weights.size()) == c,
      "loss: model.class_weights has " << options_.class_weights.size()
                                       << " weights; expected one per class of the model's output, "
                                       << c);
}

bool Loss::weight_varies(const Tensor& out) const {
  return per_pixel(Shape(out.shape().begin() + 1, out.shape().end())) &&
         (options_.ignore_index || !options_.class_weights.empty());
}

double Loss::local_weight(const Tensor& out, const Tensor& targets) {
  const int64_t n = out.dim(0);
  if (!per_pixel(Shape(out.shape().begin() + 1, out.shape().end()))) return static_cast<double>(n);
  check_pixel_targets(out, targets);
  if (!weight_varies(out)) return static_cast<double>(targets.numel());
  const int32_t* y = targets.data<int32_t>();
  if (targets.device() != Device::kCpu) {
    ensure_shape(labels_host_, targets.shape(), DType::kI32, Device::kCpu);
    labels_host_.copy_from(targets);
    y = labels_host_.data<int32_t>();
  }
  double w = 0.0;
  for (int64_t i = 0; i < targets.numel(); ++i) {
    if (options_.ignore_index && y[i] == *options_.ignore_index) continue;
    const auto c = static_cast<size_t>(y[i]);
    w += options_.class_weights.empty() || y[i] < 0 || c >= options_.class_weights.size()
             ? 1.0  // out of range: compute() reports it
             : options_.class_weights[c];
  }
  return w;
}

bool Loss::run(const Tensor& out, const Tensor& targets, double mean_over, Tensor* dout) {
  const bool pixels = per_pixel(Shape(out.shape().begin() + 1, out.shape().end()));
  LOCKSTEP_CHECK(out.rank() == 2 || pixels,
                 "loss: expected model output (N, K), got " << shape_str(out.shape()));
  LOCKSTEP_CHECK(pixels || (!options_.ignore_index && options_.class_weights.empty()),
                 "loss: model.ignore_index and model.class_weights apply to per-pixel outputs "
                 "(N, C, H, W); got output "
                     << shape_str(out.shape()));
  LOCKSTEP_CHECK(mean_over > 0, "loss: expected a positive weight for the mean, got " << mean_over);
  const int64_t n = out.dim(0);
  const Device dev = out.device();
  classes_ = out.dim(1);
  ensure_shape(loss_, {n}, DType::kF64, dev);
  ensure_shape(correct_, {n}, DType::kI32, dev);
  const double scale = 1.0 / mean_over;
  if (pixels) {
    check_pixel_targets(out, targets);
    if (!options_.class_weights.empty() &&
        (!class_weights_.defined() || class_weights_.device() != dev)) {
      Tensor host = Tensor::empty({out.dim(1)}, DType::kF64);
      std::copy(options_.class_weights.begin(), options_.class_weights.end(), host.data<double>());
      class_weights_ = Tensor::empty({out.dim(1)}, DType::kF64, dev);
      class_weights_.copy_from(host);
    }
    ensure_shape(weight_, {n}, DType::kF64, dev);
    ops::pixel_cross_entropy(out, targets, class_weights_,
                             options_.ignore_index.value_or(ops::kNoIgnore), scale, loss_, weight_,
                             correct_, dout, workspace_);
  } else if (kind_ == LossKind::kCrossEntropy) {
    ops::softmax_cross_entropy(out, targets, scale, loss_, correct_, dout);
  } else {
    ops::mse(out, targets, scale, loss_, dout);
    correct_.zero();
  }
  return pixels;
}

void Loss::accumulate(const Tensor& out, const Tensor& targets, double mean_over, Tensor* dout,
                      Tensor& totals, int64_t row_offset) {
  const bool pixels = run(out, targets, mean_over, dout);
  // Per pixel: the batch's share of the mean, in rows (see "Note: per-pixel
  // cross-entropy"); the same factor compute() applies.
  const double share = pixels ? static_cast<double>(out.dim(0)) / mean_over : 1.0;
  ops::loss_totals(loss_, correct_, share, row_offset, totals);
}

LossSums Loss::check_totals(const double* totals, int64_t rows) const {
  const double bad = totals[ops::kTotalBadRow];
  LOCKSTEP_CHECK(bad == 0, "a class id in batch row " << static_cast<int64_t>(bad) - 1
                                                      << " is outside the model's " << classes_
                                                      << " classes [0, " << classes_ << ")");
  LossSums sums;
  sums.loss = totals[ops::kTotalLoss];
  sums.correct = static_cast<int64_t>(totals[ops::kTotalCorrect]);
  sums.rows = rows;
  return sums;
}

LossSums Loss::compute(const Tensor& out, const Tensor& targets, double mean_over, Tensor* dout) {
  const bool pixels = run(out, targets, mean_over, dout);
  const int64_t n = out.dim(0);
  const Device dev = out.device();
  LossSums sums;
  sums.rows = n;
  if (pixels) {
    if (dev == Device::kCpu) {
      weight_host_ = weight_;
    } else {
      ensure_shape(weight_host_, {n}, DType::kF64, Device::kCpu);
      weight_host_.copy_from(weight_);
    }
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
                                                         << out.dim(1) << " classes [0, "
                                                         << out.dim(1) << ")");
    sums.correct += c[i];
  }
  const double* l = loss_host_.data<double>();
  for (int64_t i = 0; i < n; ++i) sums.loss += l[i];
  // Per pixel: the batch's share of the mean, in rows (see "Note: per-pixel cross-entropy").
  if (pixels) sums.loss *= static_cast<double>(n) / mean_over;
  return sums;
}

}  // namespace lockstep
