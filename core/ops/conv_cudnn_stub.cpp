// Builds without cuDNN (cmake LOCKSTEP_CUDNN=OFF, or cuDNN not found): the
// cuDNN convolution backend is absent; set_conv_backend refuses to select it,
// so these are never reached.

#include <string>

#include "core/error.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/conv_cudnn.hpp"

namespace lockstep::ops {

bool cudnn_built() {
  return false;
}

ConvAlgoStats conv_algo_stats() {
  return {};
}

namespace cuda {
namespace {
[[noreturn]] void no_cudnn(const char* op) {
  throw Error(std::string(op) + ": the cuDNN backend was selected, but this build has no cuDNN");
}
}  // namespace

void cudnn_conv2d_forward(const ConvProblem&, const Tensor&, const Tensor&, const Tensor&,
                          Tensor&) {
  no_cudnn("conv2d_forward");
}
void cudnn_conv2d_backward(const ConvProblem&, const Tensor&, const Tensor&, const Tensor&, Tensor*,
                           Tensor&, Tensor*) {
  no_cudnn("conv2d_backward");
}
void cudnn_conv_transpose2d_forward(const ConvProblem&, const Tensor&, const Tensor&, const Tensor&,
                                    Tensor&) {
  no_cudnn("conv_transpose2d_forward");
}
void cudnn_conv_transpose2d_backward(const ConvProblem&, const Tensor&, const Tensor&,
                                     const Tensor&, Tensor*, Tensor&, Tensor*) {
  no_cudnn("conv_transpose2d_backward");
}
}  // namespace cuda

}  // namespace lockstep::ops
