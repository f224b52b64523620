#pragma once
// The convolution ops under the conv2d layer, on NCHW batches.
//
// Letters: N batch, C input channels, H W input height and width, O output
// channels, k kernel size, s stride, p padding (symmetric), OH OW output size
// with OH = (H + 2p - k) / s + 1. Each op checks its arguments here
// (ops/conv.cpp) and then runs the implementation for the tensors' device: the
// CPU reference (float32/float64) in ops/conv.cpp, CUDA float32 in ops/conv.cu
// (the `cuda` block below, which callers never use directly). Outputs named
// `y`, `dx` are overwritten; arguments named `acc_*` are accumulated into.
// `workspace` is scratch owned by the caller: it is grown when too small and
// never shrunk, so a layer that keeps one allocates nothing per step at a
// fixed batch size.
//
// Convolution is im2col + one GEMM per chunk of samples (see ops/conv.cpp,
// "Note: conv chunks").

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// Output extent of a window sweep: (in + 2 pad - kernel) / stride + 1, or
/// 0 when the kernel does not fit the padded input.
int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad);

/// y (N, O, OH, OW) = conv(x (N, C, H, W), w (O, C, kh, kw)) + bias (O);
/// `bias` may be undefined (no bias).
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                    int64_t pad, Tensor& y, Tensor& workspace);

/// Given dy (N, O, OH, OW): acc_dw (O, C, kh, kw) += dL/dw; *acc_db (O) +=
/// dL/db when acc_db is non-null; *dx (N, C, H, W) = dL/dx when dx is non-null.
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                     int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db, Tensor& workspace);

namespace cuda {
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                    int64_t pad, Tensor& y, Tensor& workspace);
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                     int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db, Tensor& workspace);
}  // namespace cuda

}  // namespace lockstep::ops
