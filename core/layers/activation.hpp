#pragma once
// relu, sigmoid, tanh: element-wise activations. ReLU's backward needs its
// input, sigmoid's and tanh's their output.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

enum class Activation { kRelu, kSigmoid, kTanh };

struct ActivationSaved final : SavedState {
  Tensor input;   // relu
  Tensor output;  // sigmoid, tanh
};

class ActivationLayer final : public LayerWith<ActivationSaved> {
 public:
  explicit ActivationLayer(Activation kind) : kind_(kind) {}
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override { return in; }

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      ActivationSaved& saved) override;
  Tensor backward_impl(const ActivationSaved& saved, const Tensor& dy, bool need_dx) override;

 private:
  Activation kind_;
};

std::unique_ptr<Layer> make_relu(LayerArgs& args);
std::unique_ptr<Layer> make_sigmoid(LayerArgs& args);
std::unique_ptr<Layer> make_tanh(LayerArgs& args);

}  // namespace lockstep
