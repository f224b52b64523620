// Layer: the checked entry points and the reusable output / dx buffers.

#include "core/layers/layer.hpp"

#include "core/ops/elementwise.hpp"
#include "core/precision.hpp"

namespace lockstep {

namespace {

// Rounds `out` to bfloat16 in bf16 runs unless it is `in` itself (see the
// header). float64 tensors (gradient checks) are never rounded: bf16 runs
// need a float32 model (Model::forward checks).
void round_handed_on(Tensor& out, const Tensor& in) {
  if (compute_precision() != Precision::kBf16 || !out.defined() || out.dtype() != DType::kF32)
    return;
  if (out.raw() == in.raw()) return;
  ops::round_bf16(out);
}

}  // namespace

Tensor Layer::forward(const Tensor& x, const RunContext& ctx, uint64_t layer_index, Saved& saved) {
  LOCKSTEP_CHECK(x.rank() >= 1, "layer " << spec() << ": input has no batch dimension");
  Shape per_sample(x.shape().begin() + 1, x.shape().end());
  LOCKSTEP_CHECK(per_sample == in_shape_, "layer " << spec() << ": expected input (N, ...) with"
                                                   << " sample shape " << shape_str(in_shape_)
                                                   << ", got " << shape_str(x.shape()));
  Tensor y = forward_saved(x, ctx, layer_index, saved);
  round_handed_on(y, x);
  return y;
}

Tensor Layer::backward(const Saved& saved, const Tensor& dy, bool need_dx) {
  LOCKSTEP_CHECK(dy.rank() >= 1, "layer " << spec() << ": dy has no batch dimension");
  Shape per_sample(dy.shape().begin() + 1, dy.shape().end());
  LOCKSTEP_CHECK(per_sample == out_shape_, "layer " << spec() << ": expected dy with sample shape "
                                                    << shape_str(out_shape_) << ", got "
                                                    << shape_str(dy.shape()));
  Tensor dx = backward_saved(saved, dy, need_dx);
  round_handed_on(dx, dy);
  return dx;
}

Tensor& Layer::output_buffer(int64_t n, DType dtype, Device device) {
  Shape s{n};
  s.insert(s.end(), out_shape_.begin(), out_shape_.end());
  ensure_shape(out_, s, dtype, device);
  return out_;
}

Tensor& Layer::grad_input_buffer(int64_t n, DType dtype, Device device) {
  Shape s{n};
  s.insert(s.end(), in_shape_.begin(), in_shape_.end());
  ensure_shape(dx_, s, dtype, device);
  return dx_;
}

}  // namespace lockstep
