#include "core/layers/global_avg_pool.hpp"

#include "core/layers/window.hpp"
#include "core/ops/pool.hpp"

namespace lockstep {

Shape GlobalAvgPool::output_shape(const Shape& in) const {
  window::check_image(spec(), in);
  return {in[0]};
}

Tensor GlobalAvgPool::forward_impl(const Tensor& x, const RunContext& /*ctx*/,
                                   uint64_t /*layer_index*/, NothingSaved& /*saved*/) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::global_avg_pool_forward(x, y);
  return y;
}

Tensor GlobalAvgPool::backward_impl(const NothingSaved& /*saved*/, const Tensor& dy, bool need_dx) {
  if (!need_dx) return Tensor();
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::global_avg_pool_backward(dy, dx);
  return dx;
}

std::unique_ptr<Layer> make_global_avg_pool(LayerArgs& args) {
  args.expect_none();
  return std::make_unique<GlobalAvgPool>();
}

}  // namespace lockstep
