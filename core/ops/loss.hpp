#pragma once
// The losses' per-row values and gradients (core/loss.hpp builds on them).
// Per-row losses are float64 on every device.
//
// Each op checks its arguments here (ops/loss.cpp) and runs the CPU reference
// (float32 and float64) or the CUDA version (ops/loss.cu, float32; the
// `cuda` block below, which callers never use directly).

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// Softmax cross-entropy over logits (N, K) and class ids (N) int32.
/// Writes per-row loss to `loss` (N, float64) and the argmax hit (1/0) to
/// `correct` (N, int32); when `dlogits` is defined, writes
/// dlogits = grad_scale * (softmax - onehot). A class id outside [0, K)
/// throws on the CPU; on a GPU its row's `correct` is -1 (Loss::compute throws).
void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double grad_scale,
                           Tensor& loss, Tensor& correct, Tensor* dlogits);
/// Mean squared error over outputs (N, K) and float targets (N, K): per-row
/// loss = mean_k (out - t)^2; dout = grad_scale * 2 (out - t) / K.
void mse(const Tensor& out, const Tensor& targets, double grad_scale, Tensor& loss, Tensor* dout);

/// Slots of a batch's loss totals (3 float64 on the rows' device), which
/// loss_totals adds into so that a training step keeps its sums on the device
/// (read back a step later, core/transfer.hpp). zero() resets them.
enum LossTotal : int64_t {
  kTotalLoss = 0,     // sum of loss_scale * per-row loss
  kTotalCorrect = 1,  // sum of per-row hits
  kTotalBadRow = 2,   // 1 + the first row whose class id was out of range (0: none)
  kLossTotals = 3,
};
/// totals[kTotalLoss] += loss_scale * sum(loss); totals[kTotalCorrect] +=
/// sum(correct); a row whose `correct` is -1 (a GPU kernel's mark for a class
/// id outside [0, K)) sets totals[kTotalBadRow] to 1 + row_offset + its index
/// unless an earlier one is there. loss: (N,) float64; correct: (N,) int32.
/// The sums run in a fixed order on every device (deterministic).
void loss_totals(const Tensor& loss, const Tensor& correct, double loss_scale, int64_t row_offset,
                 Tensor& totals);

namespace cuda {
void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double grad_scale,
                           Tensor& loss, Tensor& correct, Tensor* dlogits);
void mse(const Tensor& out, const Tensor& targets, double grad_scale, Tensor& loss, Tensor* dout);
void loss_totals(const Tensor& loss, const Tensor& correct, double loss_scale, int64_t row_offset,
                 Tensor& totals);
}  // namespace cuda

}  // namespace lockstep::ops
