#pragma once
// Internal to the convolution ops: the pure (host-only, GPU-free) decisions
// behind the GPU backends, kept here so that CPU tests can check them.
//
// - plan_conv_chunks: how the im2col backend (ops/conv.cu) cuts a batch so
//   that its scratch stays under a cap: chunks of whole samples, or, when one
//   sample alone is over the cap (a 3x3 256->256 convolution with a 2048x1024
//   output would ask for 19 GB), chunks of output rows within a sample.
// - ConvAlgoKey: what the cuDNN backend's algorithm cache (ops/conv_cudnn.cu)
//   is keyed by.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/ops/conv.hpp"
#include "core/precision.hpp"

namespace lockstep::ops {

/// One chunk of the im2col backend: `samples` whole samples (rows == OH), or
/// one sample's output rows [r, r + rows) when samples == 1 and rows < OH.
struct ConvChunkPlan {
  int64_t samples = 1;    // samples per chunk, >= 1
  int64_t rows = 1;       // output rows per chunk, in [1, OH]
  int64_t col_elems = 0;  // col (K, samples * rows * OW), rounded up to 64 elements
  int64_t total = 0;      // col, then Yt (O, samples * OH * OW) when samples > 1
};

/// The largest chunks whose scratch (`total` elements) fits `cap` elements:
/// several samples when (K + O) P fits twice or more (K = C kh kw, P = OH OW),
/// else one sample in as many output rows as K rows OW allows (at least one
/// row: only a single row wider than the cap exceeds it). Needs n, patch, o,
/// oh, ow >= 1 and cap >= 1.
ConvChunkPlan plan_conv_chunks(int64_t n, int64_t patch, int64_t o, int64_t oh, int64_t ow,
                               int64_t cap);

/// The input rows [first, last) that output rows [r0, r0 + rows) read with
/// kernel height kh, stride s, padding p over an input of h rows: the hull
/// of their windows within [0, h), where a row chunk's col2im adds its part
/// of dx (rows inside it that no window reads, when s > kh, get 0 added).
struct RowRange {
  int64_t first = 0, last = 0;
};
RowRange conv_input_rows(int64_t r0, int64_t rows, int64_t kh, int64_t s, int64_t p, int64_t h);

/// The cache key of one convolution shape. The data type cuDNN sees and its
/// math mode both follow from `dtype` (of the tensors) and `precision`.
struct ConvAlgoKey {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input (N, C, H, W), whatever the layout
  int64_t o = 0, kh = 0, kw = 0;       // filter (O, C, kh, kw)
  int64_t stride = 1, pad = 0;
  ConvLayout layout = ConvLayout::kNchw;
  DType dtype = DType::kF32;
  Precision precision = Precision::kFp32;
  bool operator==(const ConvAlgoKey&) const = default;
};

struct ConvAlgoKeyHash {
  size_t operator()(const ConvAlgoKey& k) const noexcept;
};

/// "conv x (N, C, H, W) nchw w (O, C, kh, kw) s1 p1 float32 fp32", for messages.
std::string to_string(const ConvAlgoKey& key);

}  // namespace lockstep::ops
