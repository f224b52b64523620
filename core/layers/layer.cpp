// Layer: the checked entry points and the reusable output / dx buffers.

#include "core/layers/layer.hpp"

namespace lockstep {

Tensor Layer::forward(const Tensor& x, const RunContext& ctx, uint64_t layer_index, Saved& saved) {
  LOCKSTEP_CHECK(x.rank() >= 1, "layer " << spec() << ": input has no batch dimension");
  Shape per_sample(x.shape().begin() + 1, x.shape().end());
  LOCKSTEP_CHECK(per_sample == in_shape_, "layer " << spec() << ": expected input (N, ...) with"
                                                   << " sample shape " << shape_str(in_shape_)
                                                   << ", got " << shape_str(x.shape()));
  return forward_saved(x, ctx, layer_index, saved);
}

Tensor Layer::backward(const Saved& saved, const Tensor& dy, bool need_dx) {
  LOCKSTEP_CHECK(dy.rank() >= 1, "layer " << spec() << ": dy has no batch dimension");
  Shape per_sample(dy.shape().begin() + 1, dy.shape().end());
  LOCKSTEP_CHECK(per_sample == out_shape_, "layer " << spec() << ": expected dy with sample shape "
                                                    << shape_str(out_shape_) << ", got "
                                                    << shape_str(dy.shape()));
  return backward_saved(saved, dy, need_dx);
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
