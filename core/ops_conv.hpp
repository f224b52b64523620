#pragma once
// The convolution and pooling ops under core/conv.hpp, on NCHW batches.
//
// Letters: N batch, C input channels, H W input height and width, O output
// channels, k kernel size, s stride, p padding (symmetric), OH OW output size
// with OH = (H + 2p - k) / s + 1. Each op checks its arguments here and then
// runs the implementation for the tensors' device: CPU float32/float64 in
// ops_conv_cpu.cpp, CUDA float32 in cuda/ops_conv.cu (the `cuda` block below).
// Outputs named `y`, `dx`, `index` are overwritten; arguments named `acc_*`
// are accumulated into. `workspace` is scratch owned by the caller: it is
// grown when too small and never shrunk, so a layer that keeps one allocates
// nothing per step at a fixed batch size.
//
// Convolution is im2col + one GEMM per chunk of samples (see ops_conv_cpu.cpp,
// "Note: conv chunks"). Max pooling saves, per output, the int32 position
// h * W + w of its window's maximum in the input plane; ties go to the first
// maximum in row-major window order (a NaN in the window wins, so NaN
// propagates), and backward routes each dy to exactly that position, on the
// CPU and on the GPU alike. Average pooling divides by k*k everywhere
// (padding counts as zeros: PyTorch's count_include_pad=True).

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

/// y (N, C, OH, OW) = max over each k x k window of x (N, C, H, W) (padding
/// never wins); index (N, C, OH, OW) int32 = position of that maximum.
void maxpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad, Tensor& y,
                       Tensor& index);
/// dx (N, C, H, W) = sum of the dy whose saved index points at each element.
void maxpool2d_backward(const Tensor& dy, const Tensor& index, int64_t kernel, int64_t stride,
                        int64_t pad, Tensor& dx);

/// y (N, C, OH, OW) = sum over each k x k window of x / (k * k).
void avgpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad, Tensor& y);
/// dx (N, C, H, W) = sum over the windows covering each element of dy / (k * k).
void avgpool2d_backward(const Tensor& dy, int64_t kernel, int64_t stride, int64_t pad, Tensor& dx);

/// y (N, C) = mean of each plane of x (N, C, H, W).
void global_avg_pool_forward(const Tensor& x, Tensor& y);
/// dx (N, C, H, W) = dy (N, C) / (H * W) on every element of the plane.
void global_avg_pool_backward(const Tensor& dy, Tensor& dx);

/// The CUDA versions: same arguments, already checked by the dispatch above,
/// float32 only, on the current stream. Defined in cuda/ops_conv.cu, or in
/// ops_conv_cuda_stub.cpp (throwing) in a CPU-only build.
namespace cuda {
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                    int64_t pad, Tensor& y, Tensor& workspace);
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                     int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db, Tensor& workspace);
void maxpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad, Tensor& y,
                       Tensor& index);
void maxpool2d_backward(const Tensor& dy, const Tensor& index, int64_t kernel, int64_t stride,
                        int64_t pad, Tensor& dx);
void avgpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad, Tensor& y);
void avgpool2d_backward(const Tensor& dy, int64_t kernel, int64_t stride, int64_t pad, Tensor& dx);
void global_avg_pool_forward(const Tensor& x, Tensor& y);
void global_avg_pool_backward(const Tensor& dy, Tensor& dx);
}  // namespace cuda

}  // namespace lockstep::ops
