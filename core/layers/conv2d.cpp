#include "core/layers/conv2d.hpp"

#include "core/layers/window.hpp"
#include "core/ops/conv.hpp"

namespace lockstep {

Conv2D::Conv2D(int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool bias)
    : out_channels_(out_channels),
      kernel_(kernel),
      stride_(stride),
      padding_(padding),
      bias_(bias) {
  LOCKSTEP_CHECK(out_channels >= 1 && kernel >= 1 && stride >= 1 && padding >= 0,
                 "conv2d: expected out_channels, kernel, stride >= 1 and padding >= 0, got "
                     << out_channels << ", " << kernel << ", " << stride << ", " << padding);
}

std::string Conv2D::spec() const {
  return "conv2d(" + std::to_string(out_channels_) + ", " + std::to_string(kernel_) +
         window::args_text(stride_, 1, padding_) + (bias_ ? "" : ", nobias") + ")";
}

Shape Conv2D::output_shape(const Shape& in) const {
  return window::sweep_shape(spec(), in, out_channels_, kernel_, stride_, padding_);
}

std::vector<ParamSpec> Conv2D::param_specs(const Shape& in) const {
  window::check_image(spec(), in);
  const int64_t area = kernel_ * kernel_;
  const int64_t fan_in = in[0] * area, fan_out = out_channels_ * area;
  std::vector<ParamSpec> specs{
      {"weight", {out_channels_, in[0], kernel_, kernel_}, Init::kHe, fan_in, fan_out}};
  if (bias_) specs.push_back({"bias", {out_channels_}, Init::kZeros, fan_in, fan_out});
  return specs;
}

void Conv2D::bind(std::span<const Tensor> params, std::span<const Tensor> grads) {
  w_ = params[0];
  dw_ = grads[0];
  if (bias_) {
    b_ = params[1];
    db_ = grads[1];
  }
}

Tensor Conv2D::forward_impl(const Tensor& x, const RunContext& /*ctx*/, uint64_t /*layer_index*/,
                            Conv2DSaved& saved) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::conv2d_forward(x, w_, b_, stride_, padding_, y, workspace_);
  saved.input = x;
  return y;
}

Tensor Conv2D::backward_impl(const Conv2DSaved& saved, const Tensor& dy, bool need_dx) {
  const Tensor& x = saved.input;
  Tensor* dx = need_dx ? &grad_input_buffer(x.dim(0), dy.dtype(), dy.device()) : nullptr;
  ops::conv2d_backward(x, w_, dy, stride_, padding_, dx, dw_, bias_ ? &db_ : nullptr, workspace_);
  return dx ? *dx : Tensor();
}

std::unique_ptr<Layer> make_conv2d(LayerArgs& args) {
  args.bind({{"out_channels"}, {"kernel"}, {"stride"}, {"padding"}}, {"bias", "nobias"});
  return std::make_unique<Conv2D>(args.integer("out_channels"), args.integer("kernel"),
                                  args.integer("stride", 1), args.integer("padding", 0),
                                  args.flag({"bias", "nobias"}) != "nobias");
}

}  // namespace lockstep
