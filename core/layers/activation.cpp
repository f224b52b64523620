#include "core/layers/activation.hpp"

#include "core/ops/activation.hpp"

namespace lockstep {

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
                                     uint64_t /*layer_index*/, ActivationSaved& saved) {
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

Tensor ActivationLayer::backward_impl(const ActivationSaved& saved, const Tensor& dy,
                                      bool /*need_dx*/) {
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

namespace {
std::unique_ptr<Layer> make_activation(LayerArgs& args, Activation kind) {
  args.expect_none();
  return std::make_unique<ActivationLayer>(kind);
}
}  // namespace

std::unique_ptr<Layer> make_relu(LayerArgs& args) {
  return make_activation(args, Activation::kRelu);
}
std::unique_ptr<Layer> make_sigmoid(LayerArgs& args) {
  return make_activation(args, Activation::kSigmoid);
}
std::unique_ptr<Layer> make_tanh(LayerArgs& args) {
  return make_activation(args, Activation::kTanh);
}

}  // namespace lockstep
