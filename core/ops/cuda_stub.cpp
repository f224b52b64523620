// CPU-only build: the CUDA versions of every op family (ops/*.hpp, the `cuda`
// blocks) cannot be reached, since no device tensor can be created without the
// CUDA backend, but the dispatch must link.

#include <string>

#include "core/ops/activation.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/conv_transpose.hpp"
#include "core/ops/dense.hpp"
#include "core/ops/elementwise.hpp"
#include "core/ops/loss.hpp"
#include "core/ops/norm.hpp"
#include "core/ops/optim.hpp"
#include "core/ops/pixel_loss.hpp"
#include "core/ops/pool.hpp"
#include "core/ops/resize.hpp"

namespace lockstep::ops::cuda {
namespace {
[[noreturn]] void no_cuda(const char* op) {
  throw Error(std::string(op) + ": device tensors need the CUDA backend, which this build lacks");
}
}  // namespace

void gemm(bool, bool, double, const Tensor&, const Tensor&, double, Tensor&) {
  no_cuda("gemm");
}
void add_row_bias(Tensor&, const Tensor&) {
  no_cuda("add_row_bias");
}
void acc_column_sums(const Tensor&, Tensor&) {
  no_cuda("acc_column_sums");
}
void relu_forward(const Tensor&, Tensor&) {
  no_cuda("relu_forward");
}
void relu_backward(const Tensor&, const Tensor&, Tensor&) {
  no_cuda("relu_backward");
}
void sigmoid_forward(const Tensor&, Tensor&) {
  no_cuda("sigmoid_forward");
}
void sigmoid_backward(const Tensor&, const Tensor&, Tensor&) {
  no_cuda("sigmoid_backward");
}
void tanh_forward(const Tensor&, Tensor&) {
  no_cuda("tanh_forward");
}
void tanh_backward(const Tensor&, const Tensor&, Tensor&) {
  no_cuda("tanh_backward");
}
void dropout_forward(const Tensor&, double, uint64_t, Tensor&, Tensor&) {
  no_cuda("dropout_forward");
}
void multiply(const Tensor&, const Tensor&, Tensor&) {
  no_cuda("multiply");
}
void add(const Tensor&, const Tensor&, Tensor&) {
  no_cuda("add");
}
void softmax_cross_entropy(const Tensor&, const Tensor&, double, Tensor&, Tensor&, Tensor*) {
  no_cuda("softmax_cross_entropy");
}
void mse(const Tensor&, const Tensor&, double, Tensor&, Tensor*) {
  no_cuda("mse");
}
void loss_totals(const Tensor&, const Tensor&, double, int64_t, Tensor&) {
  no_cuda("loss_totals");
}
void prepare_step(const Tensor&, Tensor&, double, double) {
  no_cuda("prepare_step");
}
void sgd_step(Tensor&, const Tensor&, Tensor&, const Tensor&, double, double, bool) {
  no_cuda("sgd_step");
}
void scale(Tensor&, double) {
  no_cuda("scale");
}
void round_bf16(const Tensor&, Tensor&) {
  no_cuda("round_bf16");
}
void adam_step(Tensor&, const Tensor&, Tensor&, Tensor&, const Tensor&, double, double, double,
               double, bool) {
  no_cuda("adam_step");
}
void sum_squares(const Tensor&, Tensor&, Tensor&) {
  no_cuda("sum_squares");
}
void restore_if_skipped(Tensor&, const Tensor&, const Tensor&) {
  no_cuda("restore_if_skipped");
}
void poison_if_nonfinite(Tensor&, const Tensor&, int64_t) {
  no_cuda("poison_if_nonfinite");
}
void conv2d_forward(const ConvProblem&, const Tensor&, const Tensor&, const Tensor&, Tensor&) {
  no_cuda("conv2d_forward");
}
void conv2d_backward(const ConvProblem&, const Tensor&, const Tensor&, const Tensor&, Tensor*,
                     Tensor&, Tensor*) {
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
void channel_moments(const Tensor&, const Tensor&, int64_t, Tensor&) {
  no_cuda("batchnorm");
}
void batchnorm_statistics(const Tensor&, double, double, double, bool, Tensor&, Tensor&, Tensor&,
                          Tensor&) {
  no_cuda("batchnorm");
}
void batchnorm_apply(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     Tensor&, Tensor&) {
  no_cuda("batchnorm");
}
void batchnorm_param_grads(const Tensor&, Tensor&, Tensor&) {
  no_cuda("batchnorm");
}
void batchnorm_input_grad(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                          double, Tensor&) {
  no_cuda("batchnorm");
}

void upsample_forward(const Tensor&, int64_t, UpsampleMode, Tensor&) {
  no_cuda("upsample_forward");
}
void upsample_backward(const Tensor&, int64_t, UpsampleMode, Tensor&) {
  no_cuda("upsample_backward");
}
void concat_channels(const Tensor&, const Tensor&, Tensor&) {
  no_cuda("concat_channels");
}
void split_channels(const Tensor&, Tensor&, Tensor*) {
  no_cuda("split_channels");
}
void conv_transpose2d_forward(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t,
                              Tensor&) {
  no_cuda("conv_transpose2d_forward");
}
void conv_transpose2d_backward(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t,
                               Tensor*, Tensor&, Tensor*) {
  no_cuda("conv_transpose2d_backward");
}

void pixel_cross_entropy(const Tensor&, const Tensor&, const Tensor&, int64_t, double, Tensor&,
                         Tensor&, Tensor&, Tensor*, Tensor&) {
  no_cuda("pixel_cross_entropy");
}

}  // namespace lockstep::ops::cuda
