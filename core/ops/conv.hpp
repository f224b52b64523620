#pragma once
// The convolution ops under the conv2d layer.
//
// Letters: N batch, C input channels, H W input height and width, O output
// channels, k kernel size, s stride, p padding (symmetric), OH OW output size
// with OH = (H + 2p - k) / s + 1. Each op checks its arguments here
// (ops/conv.cpp) and then runs the implementation for the tensors' device: the
// CPU reference (float32/float64) in ops/conv.cpp, CUDA float32 in ops/conv.cu
// (the `cuda` block below, which callers never use directly). Outputs named
// `y`, `dx` are overwritten; arguments named `acc_*` are accumulated into.
//
// Layouts. kNchw (the default, and the only one the CPU reference and the
// im2col backend take): x (N, C, H, W), w (O, C, kh, kw), y (N, O, OH, OW).
// kNhwc, channels last, what GPU tensor cores want: x (N, H, W, C),
// w (O, kh, kw, C), y (N, OH, OW, O); GPU tensors with the cuDNN backend only.
// NHWC is available at the op level; the layers and the model carry NCHW
// activations (the tests convert).
//
// GPU backends (ConvBackend), chosen at run time: cuDNN where the build has it
// (cmake LOCKSTEP_CUDNN; ops/conv_cudnn.cu, "Note: cuDNN convolutions"), else
// im2col + one cuBLAS GEMM per chunk (ops/conv.cu; "Note: conv chunks" in
// ops/conv.cpp), which stays selectable as the reference. Both take their
// scratch from the one workspace their GPU shares (core/cuda/workspace.hpp);
// `workspace` below is the CPU reference's scratch: grown when too small and
// never shrunk, so a layer that keeps one allocates nothing per step at a
// fixed batch size. compute_precision() (core/precision.hpp) picks the GPU
// arithmetic: fp32, TF32 tensor cores, or bf16 inputs with float32
// accumulation (cuDNN; the im2col backend computes bf16 runs in float32).

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

enum class ConvLayout { kNchw, kNhwc };
const char* to_string(ConvLayout layout);

/// Output extent of a window sweep: (in + 2 pad - kernel) / stride + 1, or
/// 0 when the kernel does not fit the padded input.
int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad);

/// y = conv(x, w) + bias (O); `bias` may be undefined (no bias). Shapes per
/// `layout` (above).
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                    int64_t pad, Tensor& y, Tensor& workspace,
                    ConvLayout layout = ConvLayout::kNchw);

/// Given dy (shaped as y): acc_dw (shaped as w) += dL/dw; *acc_db (O) +=
/// dL/db when acc_db is non-null; *dx (shaped as x) = dL/dx when dx is non-null.
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                     int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db, Tensor& workspace,
                     ConvLayout layout = ConvLayout::kNchw);

/// How GPU convolutions are computed (process-wide, like compute_precision).
enum class ConvBackend { kCudnn, kIm2col };
const char* to_string(ConvBackend backend);
/// True when this build has the cuDNN backend.
bool cudnn_built();
/// The backend GPU convolutions use: kCudnn when built, else kIm2col, until set.
ConvBackend conv_backend();
/// Selects the backend; kCudnn in a build without cuDNN throws.
void set_conv_backend(ConvBackend backend);

/// The most scratch one im2col convolution takes, in float32 elements
/// (default 2^26: 256 MB); plan_conv_chunks (ops/conv_plan.hpp) cuts the work
/// to fit. Tests lower it to reach the row chunking on small shapes.
int64_t im2col_workspace_cap();
/// Sets the cap (>= 1); 0 restores the default.
void set_im2col_workspace_cap(int64_t elements);

/// Counters of the cuDNN algorithm cache ("Note: cuDNN convolutions"):
/// `lookups` counts every algorithm request (one per forward, backward-data
/// and backward-filter call), `searches` the ones that asked cuDNN's
/// heuristics (the first of each shape, precision and direction), `plans` the
/// distinct shapes cached. All zero without cuDNN.
struct ConvAlgoStats {
  int64_t lookups = 0;
  int64_t searches = 0;
  int64_t plans = 0;
};
ConvAlgoStats conv_algo_stats();

namespace cuda {
/// A convolution x (n, c, h, w) -> y (n, o, oh, ow) with filter (o, c, kh, kw),
/// stride and symmetric padding, in `layout`: the geometry the public ops
/// above have checked, handed to the GPU backends (ops/conv.cu, ops/conv_cudnn.hpp).
struct ConvProblem {
  int64_t n, c, h, w, o, kh, kw, stride, pad, oh, ow;
  ConvLayout layout;
};
void conv2d_forward(const ConvProblem& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                    Tensor& y);
void conv2d_backward(const ConvProblem& p, const Tensor& x, const Tensor& w, const Tensor& dy,
                     Tensor* dx, Tensor& acc_dw, Tensor* acc_db);
}  // namespace cuda

}  // namespace lockstep::ops
