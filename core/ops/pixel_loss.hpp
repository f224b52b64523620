#pragma once
// Per-pixel softmax cross-entropy for dense prediction (core/loss.hpp builds
// on it). Logits (N, C, P...) hold C class scores per pixel (channel stride
// P = the product of the trailing dimensions, e.g. H*W); labels hold N*P int32
// class ids. A pixel whose label equals `ignore_index` counts for nothing (no
// loss, no weight, no gradient); the others are weighted by class_weights[label]
// (1 when `class_weights` is undefined). Per sample n, in float64:
//   loss[n]   = sum over its counted pixels of w * (logsumexp(z) - z[label])
//   weight[n] = sum over its counted pixels of w
//   correct[n] = counted pixels whose argmax (first maximum) is the label
// and, when dlogits is given, dlogits = grad_scale * w * (softmax - onehot)
// (0 at ignored pixels); everything is overwritten. A label outside [0, C)
// (other than ignore_index) throws on the CPU; on a GPU its sample's correct
// is -1 (Loss::compute throws). The CPU splits samples over threads, each
// summed in pixel order; the GPU writes per-pixel figures into `workspace`
// (grown when too small, never shrunk) and sums each sample in pixel order:
// both give the same bits on any number of threads.

#include <cstdint>
#include <limits>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// No pixel is ignored.
constexpr int64_t kNoIgnore = std::numeric_limits<int64_t>::min();

void pixel_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& class_weights,
                         int64_t ignore_index, double grad_scale, Tensor& loss, Tensor& weight,
                         Tensor& correct, Tensor* dlogits, Tensor& workspace);

namespace cuda {
void pixel_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& class_weights,
                         int64_t ignore_index, double grad_scale, Tensor& loss, Tensor& weight,
                         Tensor& correct, Tensor* dlogits, Tensor& workspace);
}  // namespace cuda

}  // namespace lockstep::ops
