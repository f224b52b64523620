#pragma once
// Evaluation figures for people: classification (loss, accuracy, top-k,
// confusion matrix, per-class precision / recall / F1) and regression (MSE,
// MAE, R^2). Each rank adds its batches, each batch being the same rows on
// any number of ranks (DataOptions::shard_block). Counts are integers, summed
// exactly; the floating-point sums are kept per batch, exchanged exactly (a
// batch's sums are non-zero on one rank only) and added in batch order, so
// the figures have the same bits on any number of ranks.
//
// Segmentation (per-pixel cross-entropy, set_per_pixel): the confusion matrix
// counts pixels (those labelled ignore_index left out), giving pixel
// accuracy, per-class IoU = TP / (TP + FP + FN) and mean IoU over the classes
// that occur (in the labels or the predictions); the loss is the weighted
// mean over counted pixels (eval_metrics_seg.cpp).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/communicator.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "trainer/data.hpp"

namespace lockstep::trainer {

class EvalMetrics {
 public:
  /// classes: K for cross-entropy (outputs = K), or the target width for mse.
  EvalMetrics(LossKind kind, int64_t outputs, int64_t top_k = 5);

  /// One batch: host outputs (n, K) float32, host targets ((n,) int32 or (n, K)
  /// float32) and the per-row losses (n,) float64. `batch` is the batch's
  /// global index (the same on any number of ranks); -1: the next one after
  /// the previous add() (one rank, or tests).
  /// Per pixel: outputs (n, C, H, W), targets n*H*W int32, row_losses the
  /// per-sample weighted loss sums and `row_weights` their weights (n,) float64.
  void add(const Tensor& outputs, const Tensor& targets, const Tensor& row_losses,
           int64_t batch = -1, const Tensor* row_weights = nullptr);
  /// Makes this a segmentation evaluation (before the first add()).
  void set_per_pixel(std::optional<int64_t> ignore_index);
  bool per_pixel() const { return per_pixel_; }
  int64_t pixels() const { return pixels_; }  // counted pixels (segmentation)
  /// Segmentation: IoU of class c (0 when it occurs nowhere), and the mean
  /// over the classes that occur.
  double iou(int64_t c) const;
  double mean_iou() const;
  /// Sums over all ranks (collective); call once, after the last add().
  void reduce(comm::Communicator& comm);

  int64_t samples() const { return samples_; }
  double loss() const;      // mean per-sample loss (per pixel: per counted pixel, weighted)
  double accuracy() const;  // classification (per pixel: pixel accuracy)
  int64_t correct() const;  // classification: samples whose argmax is the label
  double top_k() const;     // classification: fraction with the label among the k largest
  int64_t k() const { return k_; }
  /// confusion[t * K + p]: samples of true class t predicted as p.
  const std::vector<int64_t>& confusion() const { return confusion_; }
  double precision(int64_t c) const;
  double recall(int64_t c) const;
  double f1(int64_t c) const;
  double mse() const;  // regression, mean over samples and outputs
  double mae() const;
  double r2() const;  // 1 - SSE / SST, pooled over outputs

  /// A readable report (what `lockstep eval` prints); classes by name when
  /// `class_names` has one per class, else by id.
  std::string report(const std::vector<std::string>& class_names = {}) const;
  /// The same figures for scripts (what `lockstep eval --json` writes):
  /// classification: task, samples, loss, accuracy, correct, top_k {k,
  /// accuracy}, macro_f1, classes [{id, name, precision, recall, f1,
  /// support}], class_names (or null), confusion (rows: true class);
  /// regression: task, samples, loss, mse, mae, r2.
  nlohmann::json to_json(const std::vector<std::string>& class_names = {}) const;

 private:
  LossKind kind_;
  int64_t outputs_, k_;
  int64_t samples_ = 0, topk_hits_ = 0;
  std::vector<int64_t> confusion_;
  // The floating-point sums, one record per batch added (batch index, then
  // kSums + 2 * targets values, see sum_width()), until reduce() adds them up
  // in batch order into the totals below.
  std::vector<double> batch_sums_;
  int64_t next_batch_ = 0;
  int64_t sum_width() const;
  double loss_sum_ = 0, weight_sum_ = 0;
  bool per_pixel_ = false;
  std::optional<int64_t> ignore_;
  int64_t pixels_ = 0;
  void add_pixels(const Tensor& outputs, const Tensor& targets);
  std::string report_pixels(const std::vector<std::string>& class_names) const;
  nlohmann::json json_pixels(const std::vector<std::string>& class_names) const;
  // regression: sums of squared and absolute errors, of targets and their squares (per output)
  double sse_ = 0, sae_ = 0;
  std::vector<double> sum_t_, sum_t2_;
};

/// Evaluates `model` over `data` (every sample once across ranks) into metrics.
/// Per-pixel models (cross-entropy on (C, H, W) outputs) give segmentation
/// figures, with `loss_options` (ignore_index, class weights) applied.
EvalMetrics evaluate_metrics(comm::Communicator& comm, Model& model, LossKind kind,
                             const ShardedData& data, int64_t batch_size, int64_t top_k = 5,
                             const LossOptions& loss_options = {});

}  // namespace lockstep::trainer
