#pragma once
// The ops under the encoder-decoder layers: integer-factor upsampling
// (nearest, bilinear) and joining / splitting batches along channels.
//
// Letters: N batch, C channels, H W input plane, s scale factor, OH = H*s,
// OW = W*s. Each op checks its arguments here (ops/resize.cpp) and runs the
// CPU reference (float32/float64) or the CUDA version (ops/resize.cu,
// float32; the `cuda` block below, which callers never use directly). Every
// output (y, dx, da, db) is overwritten. On the CPU the work is split by
// planes (n, c), each computed whole by one thread in a fixed order, so the
// results have the same bits on any number of threads.
//
// Bilinear follows PyTorch's align_corners=false: output pixel o reads the
// input at src = max(0, (o + 0.5) / s - 0.5), between floor(src) and the next
// pixel (clamped to the edge), weighted by the fractional part.

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

enum class UpsampleMode { kNearest, kBilinear };

/// y (N, C, H*s, W*s) from x (N, C, H, W).
void upsample_forward(const Tensor& x, int64_t scale, UpsampleMode mode, Tensor& y);
/// dx (N, C, H, W) from dy (N, C, H*s, W*s).
void upsample_backward(const Tensor& dy, int64_t scale, UpsampleMode mode, Tensor& dx);

/// y (N, Ca + Cb, H, W) = a (N, Ca, H, W) followed by b (N, Cb, H, W) per sample.
void concat_channels(const Tensor& a, const Tensor& b, Tensor& y);
/// da (N, Ca, H, W), db (N, Cb, H, W) = the two channel ranges of dy; db may be null.
void split_channels(const Tensor& dy, Tensor& da, Tensor* db);

namespace cuda {
void upsample_forward(const Tensor& x, int64_t scale, UpsampleMode mode, Tensor& y);
void upsample_backward(const Tensor& dy, int64_t scale, UpsampleMode mode, Tensor& dx);
void concat_channels(const Tensor& a, const Tensor& b, Tensor& y);
void split_channels(const Tensor& dy, Tensor& da, Tensor* db);
}  // namespace cuda

}  // namespace lockstep::ops
