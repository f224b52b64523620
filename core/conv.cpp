// The convolutional layers and their part of the layer-spec parser.

#include "core/conv.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>

#include "core/ops_conv.hpp"

namespace lockstep {
namespace {

// Every layer here takes one image (C, H, W) per sample.
void check_image(const std::string& spec, const Shape& in) {
  LOCKSTEP_CHECK(in.size() == 3, spec << ": expected an input (C, H, W), got " << shape_str(in));
  LOCKSTEP_CHECK(in[0] > 0 && in[1] > 0 && in[2] > 0,
                 spec << ": expected a non-empty input (C, H, W), got " << shape_str(in));
}

// Output shape of a k x k window sweep over an image, or a clear error.
Shape sweep_shape(const std::string& spec, const Shape& in, int64_t channels, int64_t kernel,
                  int64_t stride, int64_t padding) {
  check_image(spec, in);
  const int64_t oh = ops::conv_out_size(in[1], kernel, stride, padding);
  const int64_t ow = ops::conv_out_size(in[2], kernel, stride, padding);
  LOCKSTEP_CHECK(oh >= 1 && ow >= 1, spec << ": input " << shape_str(in) << " is too small: kernel "
                                          << kernel << " needs at least " << kernel << "x" << kernel
                                          << " after padding " << padding);
  return {channels, oh, ow};
}

std::string window_args(int64_t stride, int64_t default_stride, int64_t padding) {
  std::string s;
  if (stride != default_stride) s += ", stride=" + std::to_string(stride);
  if (padding != 0) s += ", padding=" + std::to_string(padding);
  return s;
}

}  // namespace

// ---- Conv2D ------------------------------------------------------------------------------

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
         window_args(stride_, 1, padding_) + (bias_ ? "" : ", nobias") + ")";
}

Shape Conv2D::output_shape(const Shape& in) const {
  return sweep_shape(spec(), in, out_channels_, kernel_, stride_, padding_);
}

std::vector<ParamSpec> Conv2D::param_specs(const Shape& in) const {
  check_image(spec(), in);
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
                            Saved& saved) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::conv2d_forward(x, w_, b_, stride_, padding_, y, workspace_);
  saved.input = x;
  return y;
}

Tensor Conv2D::backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) {
  const Tensor& x = saved.input;
  Tensor* dx = need_dx ? &grad_input_buffer(x.dim(0), dy.dtype(), dy.device()) : nullptr;
  ops::conv2d_backward(x, w_, dy, stride_, padding_, dx, dw_, bias_ ? &db_ : nullptr, workspace_);
  return dx ? *dx : Tensor();
}

// ---- Pool2D --------------------------------------------------------------------------------

Pool2D::Pool2D(PoolKind kind, int64_t kernel, int64_t stride, int64_t padding)
    : kind_(kind), kernel_(kernel), stride_(stride == 0 ? kernel : stride), padding_(padding) {
  const char* name = kind == PoolKind::kMax ? "maxpool2d" : "avgpool2d";
  LOCKSTEP_CHECK(kernel >= 1 && stride_ >= 1,
                 name << ": expected kernel and stride >= 1, got " << kernel << ", " << stride);
  LOCKSTEP_CHECK(padding >= 0 && 2 * padding <= kernel,
                 name << ": expected padding between 0 and half the kernel (" << kernel / 2
                      << "), got " << padding);
}

std::string Pool2D::spec() const {
  return std::string(kind_ == PoolKind::kMax ? "maxpool2d(" : "avgpool2d(") +
         std::to_string(kernel_) + window_args(stride_, kernel_, padding_) + ")";
}

Shape Pool2D::output_shape(const Shape& in) const {
  return sweep_shape(spec(), in, in.size() == 3 ? in[0] : 0, kernel_, stride_, padding_);
}

Tensor Pool2D::forward_impl(const Tensor& x, const RunContext& /*ctx*/, uint64_t /*layer_index*/,
                            Saved& saved) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  if (kind_ == PoolKind::kMax) {
    ensure_shape(saved.index, y.shape(), DType::kI32, x.device());
    ops::maxpool2d_forward(x, kernel_, stride_, padding_, y, saved.index);
  } else {
    ops::avgpool2d_forward(x, kernel_, stride_, padding_, y);
  }
  return y;
}

Tensor Pool2D::backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) {
  if (!need_dx) return Tensor();
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  if (kind_ == PoolKind::kMax) {
    ops::maxpool2d_backward(dy, saved.index, kernel_, stride_, padding_, dx);
  } else {
    ops::avgpool2d_backward(dy, kernel_, stride_, padding_, dx);
  }
  return dx;
}

// ---- GlobalAvgPool --------------------------------------------------------------------------

Shape GlobalAvgPool::output_shape(const Shape& in) const {
  check_image(spec(), in);
  return {in[0]};
}

Tensor GlobalAvgPool::forward_impl(const Tensor& x, const RunContext& /*ctx*/,
                                   uint64_t /*layer_index*/, Saved& /*saved*/) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::global_avg_pool_forward(x, y);
  return y;
}

Tensor GlobalAvgPool::backward_impl(const Saved& /*saved*/, const Tensor& dy, bool need_dx) {
  if (!need_dx) return Tensor();
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::global_avg_pool_backward(dy, dx);
  return dx;
}

// ---- Parser ------------------------------------------------------------------------------------

namespace {

// Arguments by name: positional ones take `names` in order, "name=value" any
// of them, and "bias"/"nobias" set the flag where `bias` is given.
std::map<std::string, int64_t> parse_args(const std::vector<std::string>& args,
                                          const std::vector<std::string>& names,
                                          const std::string& token, bool* bias) {
  std::map<std::string, int64_t> values;
  size_t next = 0;
  bool bias_seen = false;
  for (const std::string& arg : args) {
    if (bias && (arg == "bias" || arg == "nobias")) {
      LOCKSTEP_CHECK(!bias_seen, "layer '" << token << "': 'bias' or 'nobias' given twice");
      bias_seen = true;
      *bias = arg == "bias";
      continue;
    }
    std::string name, value = arg;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      name.erase(
          std::remove_if(name.begin(), name.end(), [](unsigned char c) { return std::isspace(c); }),
          name.end());
      value.erase(0, value.find_first_not_of(" \t"));
      LOCKSTEP_CHECK(std::find(names.begin(), names.end(), name) != names.end(),
                     "layer '" << token << "': unknown argument '" << name << "'");
    } else {
      LOCKSTEP_CHECK(next < names.size(),
                     "layer '" << token << "': unexpected argument '" << arg << "'");
      name = names[next++];
    }
    LOCKSTEP_CHECK(!values.count(name), "layer '" << token << "': '" << name << "' given twice");
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LOCKSTEP_CHECK(used == value.size() && !value.empty() && v >= 0,
                   "layer '" << token << "': expected a non-negative integer for " << name
                             << ", got '" << value << "'");
    values[name] = v;
  }
  return values;
}

int64_t required(const std::map<std::string, int64_t>& values, const std::string& name,
                 const std::string& token) {
  const auto it = values.find(name);
  LOCKSTEP_CHECK(it != values.end(), "layer '" << token << "': missing argument " << name);
  return it->second;
}

int64_t optional(const std::map<std::string, int64_t>& values, const std::string& name,
                 int64_t fallback) {
  const auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

}  // namespace

std::unique_ptr<Layer> make_conv_layer(const std::string& name,
                                       const std::vector<std::string>& args,
                                       const std::string& token) {
  try {
    if (name == "conv2d") {
      bool bias = true;
      const auto v =
          parse_args(args, {"out_channels", "kernel", "stride", "padding"}, token, &bias);
      return std::make_unique<Conv2D>(required(v, "out_channels", token),
                                      required(v, "kernel", token), optional(v, "stride", 1),
                                      optional(v, "padding", 0), bias);
    }
    if (name == "maxpool2d" || name == "avgpool2d") {
      const auto v = parse_args(args, {"kernel", "stride", "padding"}, token, nullptr);
      const int64_t kernel = required(v, "kernel", token);
      LOCKSTEP_CHECK(optional(v, "stride", 1) >= 1,
                     "layer '" << token << "': expected a stride >= 1, got 0");
      return std::make_unique<Pool2D>(name == "maxpool2d" ? PoolKind::kMax : PoolKind::kAvg, kernel,
                                      optional(v, "stride", kernel), optional(v, "padding", 0));
    }
    if (name == "global_avg_pool" || name == "gap") {
      LOCKSTEP_CHECK(args.empty(), "layer '" << token << "': expected no arguments");
      return std::make_unique<GlobalAvgPool>();
    }
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind("layer '", 0) == 0) throw;
    throw Error("layer '" + token + "': " + what);
  }
  return nullptr;
}

}  // namespace lockstep
