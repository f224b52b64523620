#pragma once
// The optimizers' fused passes over a parameter slab, and the squared norm
// gradient clipping needs. Parameters and state are updated in place.
//
// Note: the step control block. A training step's decisions are taken on
// the slab's device, so that the host never waits inside a step: the
// gradient's sum of squares stays in device memory (sum_squares), and
// prepare_step turns it into the step's norm, its skip flag (a non-finite
// norm: no update at all), its clipping factor and Adam's bias corrections,
// in a small float64 block (StepSlot) that the fused passes then read. The
// host writes only the inputs (learning rate, clip norm: one asynchronous
// copy, core/transfer.hpp) and reads the outputs back a step later. On the
// CPU the same code runs at once, with the same arithmetic as the host code
// it replaced (norm and factor in double, the factor applied in the
// parameters' type), so CPU results are unchanged bit for bit.
//
// Each op checks its arguments here (ops/optim.cpp) and runs the CPU reference
// (float32 and float64) or the CUDA version (ops/optim.cu, float32; the
// `cuda` block below, which callers never use directly).

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// Slots of the step control block (float64, kStepSlots, on the slab's device).
enum StepSlot : int64_t {
  kSlotLr = 0,        // in: learning rate
  kSlotClipNorm = 1,  // in: clip to this global L2 norm (<= 0: no clipping)
  kStepInputs = 2,    // the slots the host writes each step: [0, kStepInputs)
  kSlotNorm = 2,      // out: sqrt of the sum of squares
  kSlotSkipped = 3,   // out: 1 when the norm is not finite (the pass changes nothing)
  kSlotScale = 4,     // out: the factor the gradients are multiplied by (clipping)
  kSlotSteps = 5,     // in/out: updates applied so far (Adam's t once this one is)
  kSlotBias1 = 6,     // out: 1 - beta1^t
  kSlotBias2 = 7,     // out: 1 - beta2^t
  kStepSlots = 8,
};

/// The step's decisions from the gradient's sum of squares (one float64 or
/// float32 element on the control block's device): norm, skip flag, clipping
/// factor, and, unless skipped, steps + 1 and the bias corrections for
/// beta1, beta2 (pass 0 for optimizers without them).
void prepare_step(const Tensor& sum_squares, Tensor& control, double beta1, double beta2);

/// One fused SGD pass over a slab, reading lr, the clipping factor and the
/// skip flag from `control` (prepare_step): g = scale * grad + wd * w;
/// v = momentum * v + g; w -= lr * (nesterov ? g + momentum * v : v)
/// (PyTorch's convention). Nothing changes when the step is skipped.
void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, const Tensor& control,
              double momentum, double weight_decay, bool nesterov);
/// One fused Adam pass (t = control's steps, bias corrections from
/// prepare_step): g = scale * grad; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). Weight decay:
/// decoupled (AdamW: w -= lr * wd * w first) or L2 (g += wd * w). Nothing
/// changes when the step is skipped.
void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& control,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled);

/// Sum of squares of all elements (accumulated in double), read back.
double sum_squares(const Tensor& x);
/// The same into out[0] (one float64 or float32 element on x's device) with
/// no host copy and no allocation once `scratch` (kept by the caller) is
/// sized; the sum runs in a fixed order (deterministic).
void sum_squares(const Tensor& x, Tensor& out, Tensor& scratch);

/// dst = src when control's step was skipped (BatchNorm statistics restored
/// on a skipped step), decided on the device.
void restore_if_skipped(Tensor& dst, const Tensor& src, const Tensor& control);
/// x[0] = NaN when flag[slot] is not finite (a non-finite loss marks the
/// gradients, trainer/step.cpp "Note: non-finite steps"). flag: float64.
void poison_if_nonfinite(Tensor& x, const Tensor& flag, int64_t slot);

namespace cuda {
void prepare_step(const Tensor& sum_squares, Tensor& control, double beta1, double beta2);
void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, const Tensor& control,
              double momentum, double weight_decay, bool nesterov);
void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& control,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled);
void sum_squares(const Tensor& x, Tensor& out, Tensor& scratch);
void restore_if_skipped(Tensor& dst, const Tensor& src, const Tensor& control);
void poison_if_nonfinite(Tensor& x, const Tensor& flag, int64_t slot);
}  // namespace cuda

}  // namespace lockstep::ops
