#pragma once
// The pooling ops under the maxpool2d, avgpool2d and global_avg_pool layers,
// on NCHW batches (letters as in ops/conv.hpp).
//
// Each op checks its arguments here (ops/pool.cpp) and then runs the CPU
// reference (float32/float64, planes split over the CPU threads) or the CUDA
// version (ops/pool.cu, float32; the `cuda` block below). Max pooling saves,
// per output, the int32 position h * W + w of its window's maximum in the
// input plane; ties go to the first maximum in row-major window order (a NaN
// in the window wins, so NaN propagates), and backward routes each dy to
// exactly that position, on the CPU and on the GPU alike. Average pooling
// divides by k*k everywhere (padding counts as zeros: PyTorch's
// count_include_pad=True).

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

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

namespace cuda {
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
