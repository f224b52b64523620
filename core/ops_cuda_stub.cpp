// CPU-only build: the CUDA ops cannot be reached (no device tensor can be
// created without the CUDA backend), but the dispatch must link.

#include "core/ops_cuda.hpp"

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
void sgd_step(Tensor&, const Tensor&, Tensor&, double, double, double, bool) {
  no_cuda("sgd_step");
}
void scale(Tensor&, double) {
  no_cuda("scale");
}
void adam_step(Tensor&, const Tensor&, Tensor&, Tensor&, double, double, double, double, double,
               bool, int64_t) {
  no_cuda("adam_step");
}
double sum_squares(const Tensor&) {
  no_cuda("sum_squares");
}

}  // namespace lockstep::ops::cuda
