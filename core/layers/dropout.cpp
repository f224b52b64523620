#include "core/layers/dropout.hpp"

#include <sstream>

#include "core/ops/elementwise.hpp"
#include "core/rng.hpp"

namespace lockstep {

Dropout::Dropout(double p) : p_(p) {
  LOCKSTEP_CHECK(p >= 0.0 && p < 1.0, "dropout: expected a rate in [0, 1), got " << p);
}

std::string Dropout::spec() const {
  std::ostringstream os;
  os << "dropout(" << p_ << ")";
  return os.str();
}

Tensor Dropout::forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                             DropoutSaved& saved) {
  if (ctx.mode == Mode::kEval || p_ == 0.0) {
    saved.mask = Tensor();
    return x;
  }
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ensure_shape(saved.mask, x.shape(), x.dtype(), x.device());
  ops::dropout_forward(x, p_, hash_keys({ctx.dropout_key, layer_index}), saved.mask, y);
  return y;
}

Tensor Dropout::backward_impl(const DropoutSaved& saved, const Tensor& dy, bool /*need_dx*/) {
  if (!saved.mask.defined()) return dy;
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::multiply(dy, saved.mask, dx);
  return dx;
}

std::unique_ptr<Layer> make_dropout(LayerArgs& args) {
  args.bind({{"rate"}});
  return std::make_unique<Dropout>(args.number("rate"));
}

}  // namespace lockstep
