// Layer entry points, the concrete layers and the layer-spec parser.

#include "core/layers.hpp"

#include <cctype>
#include <sstream>

#include "core/blocks.hpp"
#include "core/conv.hpp"
#include "core/ops.hpp"
#include "core/rng.hpp"

namespace lockstep {

// ---- Layer: checked entry points -------------------------------------------

Tensor Layer::forward(const Tensor& x, const RunContext& ctx, uint64_t layer_index, Saved& saved) {
  LOCKSTEP_CHECK(x.rank() >= 1, "layer " << spec() << ": input has no batch dimension");
  Shape per_sample(x.shape().begin() + 1, x.shape().end());
  LOCKSTEP_CHECK(per_sample == in_shape_, "layer " << spec() << ": expected input (N, ...) with"
                                                   << " sample shape " << shape_str(in_shape_)
                                                   << ", got " << shape_str(x.shape()));
  return forward_impl(x, ctx, layer_index, saved);
}

Tensor Layer::backward(const Saved& saved, const Tensor& dy, bool need_dx) {
  LOCKSTEP_CHECK(dy.rank() >= 1, "layer " << spec() << ": dy has no batch dimension");
  Shape per_sample(dy.shape().begin() + 1, dy.shape().end());
  LOCKSTEP_CHECK(per_sample == out_shape_, "layer " << spec() << ": expected dy with sample shape "
                                                    << shape_str(out_shape_) << ", got "
                                                    << shape_str(dy.shape()));
  return backward_impl(saved, dy, need_dx);
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

// ---- Dense ---------------------------------------------------------------------

Dense::Dense(int64_t units, bool bias) : units_(units), bias_(bias) {
  LOCKSTEP_CHECK(units > 0, "dense: expected a positive number of units, got " << units);
}

std::string Dense::spec() const {
  return "dense(" + std::to_string(units_) + (bias_ ? "" : ", nobias") + ")";
}

Shape Dense::output_shape(const Shape& in) const {
  LOCKSTEP_CHECK(!in.empty() && shape_numel(in) > 0,
                 spec() << ": expected a non-empty input sample, got " << shape_str(in));
  return {units_};
}

std::vector<ParamSpec> Dense::param_specs(const Shape& in) const {
  const int64_t fan_in = shape_numel(in);
  std::vector<ParamSpec> specs{{"weight", {units_, fan_in}, Init::kHe, fan_in, units_}};
  if (bias_) specs.push_back({"bias", {units_}, Init::kZeros, fan_in, units_});
  return specs;
}

void Dense::bind(std::span<const Tensor> params, std::span<const Tensor> grads) {
  w_ = params[0];
  dw_ = grads[0];
  if (bias_) {
    b_ = params[1];
    db_ = grads[1];
  }
}

Tensor Dense::forward_impl(const Tensor& x, const RunContext& /*ctx*/, uint64_t /*layer_index*/,
                           Saved& saved) {
  const int64_t n = x.dim(0);
  const Tensor x2 = x.reshape({n, w_.dim(1)});
  Tensor& y = output_buffer(n, x.dtype(), x.device());
  ops::gemm(false, true, 1.0, x2, w_, 0.0, y);  // (N, I) x (O, I)^T
  if (bias_) ops::add_row_bias(y, b_);
  saved.input = x2;
  return y;
}

Tensor Dense::backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) {
  const Tensor& x2 = saved.input;  // (N, I)
  const int64_t n = x2.dim(0);
  ops::gemm(true, false, 1.0, dy, x2, 1.0, dw_);  // dW (O, I) += dy^T x
  if (bias_) ops::acc_column_sums(dy, db_);
  if (!need_dx) return Tensor();
  Tensor& dx = grad_input_buffer(n, dy.dtype(), dy.device());
  Tensor dx2 = dx.reshape({n, w_.dim(1)});
  ops::gemm(false, false, 1.0, dy, w_, 0.0, dx2);  // dx (N, I) = dy (N, O) W (O, I)
  return dx;
}

// ---- Activations ------------------------------------------------------------------

std::string ActivationLayer::spec() const {
  switch (kind_) {
    case Activation::kRelu:
      return "relu";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kTanh:
      return "tanh";
  }
  return "?";
}

Tensor ActivationLayer::forward_impl(const Tensor& x, const RunContext& /*ctx*/,
                                     uint64_t /*layer_index*/, Saved& saved) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  switch (kind_) {
    case Activation::kRelu:
      ops::relu_forward(x, y);
      saved.input = x;
      break;
    case Activation::kSigmoid:
      ops::sigmoid_forward(x, y);
      saved.output = y;
      break;
    case Activation::kTanh:
      ops::tanh_forward(x, y);
      saved.output = y;
      break;
  }
  return y;
}

Tensor ActivationLayer::backward_impl(const Saved& saved, const Tensor& dy, bool /*need_dx*/) {
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  switch (kind_) {
    case Activation::kRelu:
      ops::relu_backward(saved.input, dy, dx);
      break;
    case Activation::kSigmoid:
      ops::sigmoid_backward(saved.output, dy, dx);
      break;
    case Activation::kTanh:
      ops::tanh_backward(saved.output, dy, dx);
      break;
  }
  return dx;
}

// ---- Dropout --------------------------------------------------------------------------

Dropout::Dropout(double p) : p_(p) {
  LOCKSTEP_CHECK(p >= 0.0 && p < 1.0, "dropout: expected a rate in [0, 1), got " << p);
}

std::string Dropout::spec() const {
  std::ostringstream os;
  os << "dropout(" << p_ << ")";
  return os.str();
}

Tensor Dropout::forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                             Saved& saved) {
  if (ctx.mode == Mode::kEval || p_ == 0.0) {
    saved.mask = Tensor();
    return x;
  }
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ensure_shape(saved.mask, x.shape(), x.dtype(), x.device());
  ops::dropout_forward(x, p_, hash_keys({ctx.dropout_key, layer_index}), saved.mask, y);
  return y;
}

Tensor Dropout::backward_impl(const Saved& saved, const Tensor& dy, bool /*need_dx*/) {
  if (!saved.mask.defined()) return dy;
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::multiply(dy, saved.mask, dx);
  return dx;
}

// ---- Flatten ----------------------------------------------------------------------------

Shape Flatten::output_shape(const Shape& in) const {
  return {shape_numel(in)};
}

Tensor Flatten::forward_impl(const Tensor& x, const RunContext&, uint64_t, Saved&) {
  return x.reshape({x.dim(0), shape_numel(input_shape())});
}

Tensor Flatten::backward_impl(const Saved&, const Tensor& dy, bool) {
  Shape s{dy.dim(0)};
  s.insert(s.end(), input_shape().begin(), input_shape().end());
  return dy.reshape(s);
}

// ---- Parser ---------------------------------------------------------------------------------

namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

constexpr const char* kKnownLayers =
    "dense(units), relu, sigmoid, tanh, dropout(rate), flatten, batchnorm[(sync)], "
    "residual(layers...)";

double parse_number(const std::string& token, const std::string& arg) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(arg, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  LOCKSTEP_CHECK(used == arg.size() && !arg.empty(),
                 "layer '" << token << "': expected a number, got '" << arg << "'");
  return v;
}

}  // namespace

std::vector<std::string> split_layer_spec(const std::string& spec) {
  std::vector<std::string> tokens;
  std::string cur;
  int depth = 0;
  for (char c : spec) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    LOCKSTEP_CHECK(depth >= 0, "model layers '" << spec << "': unbalanced ')'");
    if (c == ',' && depth == 0) {
      tokens.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  LOCKSTEP_CHECK(depth == 0, "model layers '" << spec << "': unbalanced '('");
  tokens.push_back(trim(cur));
  for (const auto& t : tokens)
    LOCKSTEP_CHECK(!t.empty(), "model layers '" << spec << "': empty layer between commas");
  return tokens;
}

std::unique_ptr<Layer> make_layer(const std::string& token) {
  std::string name = token;
  std::vector<std::string> args;
  const size_t open = token.find('(');
  if (open != std::string::npos) {
    LOCKSTEP_CHECK(token.back() == ')', "layer '" << token << "': expected ')' at the end");
    name = trim(token.substr(0, open));
    args = split_layer_spec(token.substr(open + 1, token.size() - open - 2));
  }
  auto expect_args = [&](size_t lo, size_t hi) {
    if (args.size() >= lo && args.size() <= hi) return;
    std::ostringstream os;
    os << "layer '" << token << "': expected " << lo;
    if (hi > lo) os << " to " << hi;
    os << " argument(s), got " << args.size();
    throw Error(os.str());
  };
  if (name == "dense" || name == "linear") {
    expect_args(1, 2);
    const double units = parse_number(token, args[0]);
    LOCKSTEP_CHECK(units >= 1 && units == static_cast<double>(static_cast<int64_t>(units)),
                   "layer '" << token << "': expected a positive integer number of units");
    bool bias = true;
    if (args.size() == 2) {
      LOCKSTEP_CHECK(
          args[1] == "nobias" || args[1] == "bias",
          "layer '" << token << "': expected 'bias' or 'nobias', got '" << args[1] << "'");
      bias = args[1] == "bias";
    }
    return std::make_unique<Dense>(static_cast<int64_t>(units), bias);
  }
  if (name == "relu" || name == "sigmoid" || name == "tanh" || name == "flatten") {
    expect_args(0, 0);
    if (name == "flatten") return std::make_unique<Flatten>();
    return std::make_unique<ActivationLayer>(name == "relu"      ? Activation::kRelu
                                             : name == "sigmoid" ? Activation::kSigmoid
                                                                 : Activation::kTanh);
  }
  if (name == "dropout") {
    expect_args(1, 1);
    return std::make_unique<Dropout>(parse_number(token, args[0]));
  }
  if (name == "batchnorm" || name == "bn") {
    double momentum = 0.1, eps = 1e-5;
    bool sync = false;
    for (const std::string& a : args) {
      if (a == "sync") {
        sync = true;
      } else if (a.rfind("momentum=", 0) == 0) {
        momentum = parse_number(token, a.substr(9));
      } else if (a.rfind("eps=", 0) == 0) {
        eps = parse_number(token, a.substr(4));
      } else {
        LOCKSTEP_FAIL("layer '" << token << "': unknown argument '" << a
                                << "'; expected momentum=M, eps=E or sync");
      }
    }
    return std::make_unique<BatchNorm>(momentum, eps, sync);
  }
  if (name == "residual") {
    std::vector<std::unique_ptr<Layer>> body;
    for (const std::string& a : args) body.push_back(make_layer(a));
    return std::make_unique<Residual>(std::move(body));
  }
  if (auto conv = make_conv_layer(name, args, token)) return conv;
  LOCKSTEP_FAIL("unknown layer '" << token << "'; known layers: " << kKnownLayers << ", "
                                  << kConvLayers);
}

}  // namespace lockstep
