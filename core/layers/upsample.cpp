#include "core/layers/upsample.hpp"

#include "core/layers/window.hpp"

namespace lockstep {

Upsample::Upsample(int64_t scale, ops::UpsampleMode mode) : scale_(scale), mode_(mode) {
  LOCKSTEP_CHECK(scale >= 1, "upsample: expected an integer scale >= 1, got " << scale);
}

std::string Upsample::spec() const {
  return "upsample(" + std::to_string(scale_) +
         (mode_ == ops::UpsampleMode::kBilinear ? ", mode=bilinear" : "") + ")";
}

Shape Upsample::output_shape(const Shape& in) const {
  window::check_image(spec(), in);
  return {in[0], in[1] * scale_, in[2] * scale_};
}

Tensor Upsample::forward_impl(const Tensor& x, const RunContext& /*ctx*/, uint64_t /*layer_index*/,
                              NothingSaved& /*saved*/) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::upsample_forward(x, scale_, mode_, y);
  return y;
}

Tensor Upsample::backward_impl(const NothingSaved& /*saved*/, const Tensor& dy, bool need_dx) {
  if (!need_dx) return Tensor();
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::upsample_backward(dy, scale_, mode_, dx);
  return dx;
}

std::unique_ptr<Layer> make_upsample(LayerArgs& args) {
  args.bind({{"scale"}, {"mode", false}});
  const std::string mode = args.text("mode", "nearest");
  LOCKSTEP_CHECK(mode == "nearest" || mode == "bilinear",
                 "expected mode=nearest or mode=bilinear, got mode=" << mode);
  return std::make_unique<Upsample>(args.integer("scale"), mode == "bilinear"
                                                               ? ops::UpsampleMode::kBilinear
                                                               : ops::UpsampleMode::kNearest);
}

}  // namespace lockstep
