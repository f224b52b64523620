#pragma once
// Losses. A loss turns the model output and the batch targets into per-row
// losses (float64, summed by the caller so that metrics are exact across
// ranks) and, in training, the gradient of the *mean* loss over `mean_over`
// rows into dout (overwritten).
//
// Note: per-pixel cross-entropy. With cross-entropy and an output (N, C, H, W)
// (any rank above 2) the targets are class ids per pixel, N*H*W int32 (shape
// (N, H, W)), and the loss is the softmax cross-entropy over the channel axis
// at every pixel. Pixels labelled `ignore_index` count for nothing; the
// others weigh class_weights[label] (1 without weights). The training loss is
// the weighted mean over the counted pixels of the *global* batch (PyTorch's
// reduction='mean' with weights): compute() takes the denominator as
// `mean_over`, which the trainer makes each rank's share of the global
// weight (global_weight / ranks, see mean_denominator), so that the
// Reducer's average over ranks gives the global mean's gradient. Row figures
// are per sample: row_losses() the weighted loss sums, row_weights() the
// weight sums, row_correct() the counted pixels predicted right.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace lockstep {

enum class LossKind { kCrossEntropy, kMse };

LossKind parse_loss(const std::string& name);  // "cross_entropy" | "mse"
const char* to_string(LossKind k);

/// Options of the cross-entropy for per-pixel outputs (see "Note: per-pixel
/// cross-entropy"); rejected for other outputs.
struct LossOptions {
  std::optional<int64_t> ignore_index;  // label of pixels that count for nothing
  std::vector<double> class_weights;    // one per class, >= 0; empty: all 1
};

/// Sums over one batch.
struct LossSums {
  double loss = 0.0;    // sum of per-row losses (per-pixel: N * weighted sum / mean_over)
  int64_t correct = 0;  // rows whose argmax equals the label (classification)
  int64_t rows = 0;
};

class Loss {
 public:
  explicit Loss(LossKind kind, LossOptions options = {});
  LossKind kind() const { return kind_; }
  const LossOptions& options() const { return options_; }
  /// Whether outputs of this per-sample shape take per-pixel targets.
  bool per_pixel(const Shape& output_sample) const {
    return kind_ == LossKind::kCrossEntropy && output_sample.size() > 1;
  }
  /// This batch's weight for the mean: N rows, or (per pixel) the weight of
  /// its counted pixels; host or device targets.
  double local_weight(const Tensor& out, const Tensor& targets);
  /// Whether local_weight can differ between ranks with equal batch sizes
  /// (per-pixel with ignore_index or class weights): then the trainer sums it
  /// over ranks and passes global / ranks as mean_over.
  bool weight_varies(const Tensor& out) const;

  /// targets: (N,) int32 class ids for cross-entropy, (N, H, W) for per-pixel
  /// cross-entropy, (N, K) floats for MSE.
  /// When dout is given it receives d(sum of row losses / mean_over)/d(out).
  LossSums compute(const Tensor& out, const Tensor& targets, double mean_over, Tensor* dout);

  /// The training step's compute(): the same per-row figures and dout, but
  /// the batch's sums are *added* into `totals` (ops::kLossTotals float64 on
  /// the output's device: loss sum, hits, bad row; see ops::loss_totals) and
  /// nothing is read back, so a GPU step never waits here. `row_offset`: the
  /// batch's first row within the step (micro-batches), for the error. On a
  /// GPU a class id out of range is only recorded: check_totals reports it.
  void accumulate(const Tensor& out, const Tensor& targets, double mean_over, Tensor* dout,
                  Tensor& totals, int64_t row_offset = 0);
  /// The sums of totals read back to the host (rows: the step's rows);
  /// throws naming the batch row when a class id was out of range.
  LossSums check_totals(const double* totals, int64_t rows) const;

  /// Per-row losses (N,) float64 of the last compute() call (host memory).
  const Tensor& row_losses() const { return loss_host_; }
  /// Per-row hits (N,) int32 of the last compute() (cross-entropy only; host).
  const Tensor& row_correct() const { return correct_host_; }
  /// Per-sample weight sums (N,) float64 of the last compute() (per-pixel only; host).
  const Tensor& row_weights() const { return weight_host_; }

 private:
  void check_pixel_targets(const Tensor& out, const Tensor& targets) const;
  // The per-row ops of compute() and accumulate(); true for per-pixel outputs.
  bool run(const Tensor& out, const Tensor& targets, double mean_over, Tensor* dout);

  LossKind kind_;
  LossOptions options_;
  Tensor class_weights_;             // (C,) float64 on the output's device, when given
  Tensor weight_, weight_host_;      // (N,) float64 per-pixel weight sums
  Tensor workspace_;                 // per-pixel scratch (GPU)
  Tensor labels_host_;               // host copy of device targets (local_weight)
  Tensor loss_;                      // (N,) float64, on the output's device
  Tensor correct_;                   // (N,) int32, on the output's device
  Tensor loss_host_, correct_host_;  // host copies when the output is on a GPU
  int64_t classes_ = 0;              // K of the last output (accumulate's errors)
};

}  // namespace lockstep
