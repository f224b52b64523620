#pragma once
// dropout(rate): inverted dropout. In training, zeroes each element with
// probability p and scales the rest by 1/(1-p); identity in evaluation. The
// mask is a pure function of (dropout key of the step, layer index, element
// index).

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

struct DropoutSaved final : SavedState {
  Tensor mask;  // undefined when forward was the identity
};

class Dropout final : public LayerWith<DropoutSaved> {
 public:
  explicit Dropout(double p);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override { return in; }
  double rate() const { return p_; }

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      DropoutSaved& saved) override;
  Tensor backward_impl(const DropoutSaved& saved, const Tensor& dy, bool need_dx) override;

 private:
  double p_;
};

std::unique_ptr<Layer> make_dropout(LayerArgs& args);

}  // namespace lockstep
