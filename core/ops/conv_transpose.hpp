#pragma once
// The ops under the conv_transpose2d layer, on NCHW batches, with PyTorch's
// semantics and weight layout.
//
// Letters: N batch, C input channels, H W input plane, O output channels, k
// kernel, s stride, p padding, q output_padding, OH = (H - 1) s - 2p + k + q
// (likewise OW). Input pixel (ih, iw) spreads x * w[c, o, i, j] onto output
// pixel (ih s - p + i, iw s - p + j) where that lies inside the output: the
// gradient of a conv2d with the same k, s, p. Each op checks its arguments
// here (ops/conv_transpose.cpp) and runs the CPU reference (float32/float64)
// or the CUDA version (ops/conv_transpose.cu, float32). `y` and `dx` are
// overwritten; `acc_*` are accumulated into. CPU work is split by samples
// (forward, dx) and by (c, o) weight planes (dw), each summed whole by one
// thread in a fixed order: the same bits on any number of threads.

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// Output extent (in - 1) s - 2p + k + q, or 0 when that is not positive.
int64_t conv_transpose_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                                int64_t output_pad);

/// y (N, O, OH, OW) = conv_transpose(x (N, C, H, W), w (C, O, k, k)) + bias (O);
/// `bias` may be undefined.
void conv_transpose2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                              int64_t pad, Tensor& y);
/// Given dy (N, O, OH, OW): acc_dw (C, O, k, k) += dL/dw; *acc_db (O) += dL/db
/// when non-null; *dx (N, C, H, W) = dL/dx when non-null.
void conv_transpose2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                               int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db);

namespace cuda {
void conv_transpose2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                              int64_t pad, Tensor& y);
void conv_transpose2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                               int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db);
}  // namespace cuda

}  // namespace lockstep::ops
