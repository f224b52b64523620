#include "core/layers/flatten.hpp"

namespace lockstep {

Shape Flatten::output_shape(const Shape& in) const {
  return {shape_numel(in)};
}

Tensor Flatten::forward_impl(const Tensor& x, const RunContext&, uint64_t, NothingSaved&) {
  return x.reshape({x.dim(0), shape_numel(input_shape())});
}

Tensor Flatten::backward_impl(const NothingSaved&, const Tensor& dy, bool) {
  Shape s{dy.dim(0)};
  s.insert(s.end(), input_shape().begin(), input_shape().end());
  return dy.reshape(s);
}

std::unique_ptr<Layer> make_flatten(LayerArgs& args) {
  args.expect_none();
  return std::make_unique<Flatten>();
}

}  // namespace lockstep
