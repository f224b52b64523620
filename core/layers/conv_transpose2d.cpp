#include "core/layers/conv_transpose2d.hpp"

#include "core/layers/window.hpp"
#include "core/ops/conv_transpose.hpp"

namespace lockstep {

ConvTranspose2D::ConvTranspose2D(int64_t out_channels, int64_t kernel, int64_t stride,
                                 int64_t padding, int64_t output_padding, bool bias)
    : out_channels_(out_channels),
      kernel_(kernel),
      stride_(stride),
      padding_(padding),
      output_padding_(output_padding),
      bias_(bias) {
  LOCKSTEP_CHECK(out_channels >= 1 && kernel >= 1 && stride >= 1 && padding >= 0,
                 "conv_transpose2d: expected out_channels, kernel, stride >= 1 and padding >= 0, "
                 "got "
                     << out_channels << ", " << kernel << ", " << stride << ", " << padding);
  LOCKSTEP_CHECK(output_padding >= 0 && output_padding < stride,
                 "conv_transpose2d: expected output_padding in [0, stride " << stride << "), got "
                                                                            << output_padding);
}

std::string ConvTranspose2D::spec() const {
  std::string s = "conv_transpose2d(" + std::to_string(out_channels_) + ", " +
                  std::to_string(kernel_) + window::args_text(stride_, 2, padding_);
  if (output_padding_) s += ", output_padding=" + std::to_string(output_padding_);
  return s + (bias_ ? "" : ", nobias") + ")";
}

Shape ConvTranspose2D::output_shape(const Shape& in) const {
  window::check_image(spec(), in);
  const int64_t oh =
      ops::conv_transpose_out_size(in[1], kernel_, stride_, padding_, output_padding_);
  const int64_t ow =
      ops::conv_transpose_out_size(in[2], kernel_, stride_, padding_, output_padding_);
  LOCKSTEP_CHECK(oh >= 1 && ow >= 1, spec() << ": input " << shape_str(in)
                                            << " gives an empty output; expected padding "
                                            << padding_ << " to leave a positive size");
  return {out_channels_, oh, ow};
}

std::vector<ParamSpec> ConvTranspose2D::param_specs(const Shape& in) const {
  window::check_image(spec(), in);
  const int64_t area = kernel_ * kernel_;
  // PyTorch's fan-in of a transposed convolution: weight.size(1) * k * k.
  const int64_t fan_in = out_channels_ * area, fan_out = in[0] * area;
  std::vector<ParamSpec> specs{
      {"weight", {in[0], out_channels_, kernel_, kernel_}, Init::kHe, fan_in, fan_out}};
  if (bias_) specs.push_back({"bias", {out_channels_}, Init::kZeros, fan_in, fan_out});
  return specs;
}

void ConvTranspose2D::bind(std::span<const Tensor> params, std::span<const Tensor> grads) {
  w_ = params[0];
  dw_ = grads[0];
  if (bias_) {
    b_ = params[1];
    db_ = grads[1];
  }
}

Tensor ConvTranspose2D::forward_impl(const Tensor& x, const RunContext& /*ctx*/,
                                     uint64_t /*layer_index*/, ConvTranspose2DSaved& saved) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::conv_transpose2d_forward(x, w_, b_, stride_, padding_, y);
  saved.input = x;
  return y;
}

Tensor ConvTranspose2D::backward_impl(const ConvTranspose2DSaved& saved, const Tensor& dy,
                                      bool need_dx) {
  const Tensor& x = saved.input;
  Tensor* dx = need_dx ? &grad_input_buffer(x.dim(0), dy.dtype(), dy.device()) : nullptr;
  ops::conv_transpose2d_backward(x, w_, dy, stride_, padding_, dx, dw_, bias_ ? &db_ : nullptr);
  return dx ? *dx : Tensor();
}

std::unique_ptr<Layer> make_conv_transpose2d(LayerArgs& args) {
  args.bind({{"out_channels"}, {"kernel"}, {"stride"}, {"padding"}, {"output_padding"}},
            {"bias", "nobias"});
  return std::make_unique<ConvTranspose2D>(args.integer("out_channels"), args.integer("kernel"),
                                           args.integer("stride", 2), args.integer("padding", 0),
                                           args.integer("output_padding", 0),
                                           args.flag({"bias", "nobias"}) != "nobias");
}

}  // namespace lockstep
