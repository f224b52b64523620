// CPU-only build: the CUDA convolution and pooling ops cannot be reached (no
// device tensor exists without the CUDA backend), but the dispatch in
// ops_conv_cpu.cpp must link.

#include <string>

#include "core/ops_conv.hpp"

namespace lockstep::ops::cuda {
namespace {
[[noreturn]] void no_cuda(const char* op) {
  throw Error(std::string(op) + ": device tensors need the CUDA backend, which this build lacks");
}
}  // namespace

void conv2d_forward(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, Tensor&,
                    Tensor&) {
  no_cuda("conv2d_forward");
}
void conv2d_backward(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, Tensor*,
                     Tensor&, Tensor*, Tensor&) {
  no_cuda("conv2d_backward");
}
void maxpool2d_forward(const Tensor&, int64_t, int64_t, int64_t, Tensor&, Tensor&) {
  no_cuda("maxpool2d_forward");
}
void maxpool2d_backward(const Tensor&, const Tensor&, int64_t, int64_t, int64_t, Tensor&) {
  no_cuda("maxpool2d_backward");
}
void avgpool2d_forward(const Tensor&, int64_t, int64_t, int64_t, Tensor&) {
  no_cuda("avgpool2d_forward");
}
void avgpool2d_backward(const Tensor&, int64_t, int64_t, int64_t, Tensor&) {
  no_cuda("avgpool2d_backward");
}
void global_avg_pool_forward(const Tensor&, Tensor&) {
  no_cuda("global_avg_pool_forward");
}
void global_avg_pool_backward(const Tensor&, Tensor&) {
  no_cuda("global_avg_pool_backward");
}

}  // namespace lockstep::ops::cuda
