#pragma once
// Losses. A loss turns the model output and the batch targets into per-row
// losses (float64, summed by the caller so that metrics are exact across
// ranks) and, in training, the gradient of the *mean* loss over `mean_over`
// rows into dout (overwritten).

#include <string>

#include "core/tensor.hpp"

namespace lockstep {

enum class LossKind { kCrossEntropy, kMse };

LossKind parse_loss(const std::string& name);  // "cross_entropy" | "mse"
const char* to_string(LossKind k);

/// Sums over one batch.
struct LossSums {
  double loss = 0.0;    // sum of per-row losses
  int64_t correct = 0;  // rows whose argmax equals the label (classification)
  int64_t rows = 0;
};

class Loss {
 public:
  explicit Loss(LossKind kind) : kind_(kind) {}
  LossKind kind() const { return kind_; }

  /// targets: (N,) int32 class ids for cross-entropy, (N, K) floats for MSE.
  /// When dout is given it receives d(sum of row losses / mean_over)/d(out).
  LossSums compute(const Tensor& out, const Tensor& targets, int64_t mean_over, Tensor* dout);

  /// Per-row losses (N,) float64 of the last compute() call (host memory).
  const Tensor& row_losses() const { return loss_host_; }
  /// Per-row hits (N,) int32 of the last compute() (cross-entropy only; host).
  const Tensor& row_correct() const { return correct_host_; }

 private:
  LossKind kind_;
  Tensor loss_;                      // (N,) float64, on the output's device
  Tensor correct_;                   // (N,) int32, on the output's device
  Tensor loss_host_, correct_host_;  // host copies when the output is on a GPU
};

}  // namespace lockstep
