// CPU-only build: the CUDA batch-normalisation ops cannot be reached.
#include "core/ops_norm.hpp"

namespace lockstep::ops::cuda {
namespace {
[[noreturn]] void no_cuda() {
  throw Error("batchnorm on a GPU tensor in a build without CUDA");
}
}  // namespace
void channel_moments(const Tensor&, const Tensor&, int64_t, Tensor&) {
  no_cuda();
}
void batchnorm_statistics(const Tensor&, double, double, double, bool, Tensor&, Tensor&, Tensor&,
                          Tensor&) {
  no_cuda();
}
void batchnorm_apply(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     Tensor&, Tensor&) {
  no_cuda();
}
void batchnorm_param_grads(const Tensor&, Tensor&, Tensor&) {
  no_cuda();
}
void batchnorm_input_grad(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                          double, Tensor&) {
  no_cuda();
}
}  // namespace lockstep::ops::cuda
