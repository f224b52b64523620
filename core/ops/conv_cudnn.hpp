#pragma once
// Internal to the GPU convolution ops: the cuDNN backend (ops/conv_cudnn.cu,
// "Note: cuDNN convolutions"), or its stub in builds without cuDNN
// (ops/conv_cudnn_stub.cpp), which throws. Arguments were checked by the
// public ops (ops/conv.cpp, ops/conv_transpose.cpp); tensors are float32 on
// the selected GPU.

#include <cstdint>

#include "core/ops/conv.hpp"
#include "core/tensor.hpp"

namespace lockstep::ops::cuda {

// ConvProblem: ops/conv.hpp.
void cudnn_conv2d_forward(const ConvProblem& p, const Tensor& x, const Tensor& w,
                          const Tensor& bias, Tensor& y);
void cudnn_conv2d_backward(const ConvProblem& p, const Tensor& x, const Tensor& w, const Tensor& dy,
                           Tensor* dx, Tensor& acc_dw, Tensor* acc_db);

/// The transposed convolution of ops/conv_transpose.hpp is the data gradient
/// of the conv2d `p` (p.c = its output channels O, p.o = its input channels
/// C, p.h/p.w its output plane, p.oh/p.ow its input plane): x is p's y,
/// w (C, O, k, k) is p's filter, y is p's x.
void cudnn_conv_transpose2d_forward(const ConvProblem& p, const Tensor& x, const Tensor& w,
                                    const Tensor& bias, Tensor& y);
void cudnn_conv_transpose2d_backward(const ConvProblem& p, const Tensor& x, const Tensor& w,
                                     const Tensor& dy, Tensor* dx, Tensor& acc_dw, Tensor* acc_db);

}  // namespace lockstep::ops::cuda
