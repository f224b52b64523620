#pragma once
// flatten: (N, d1, d2, ...) -> (N, d1*d2*...), a view.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

class Flatten final : public LayerWith<NothingSaved> {
 public:
  std::string spec() const override { return "flatten"; }
  Shape output_shape(const Shape& in) const override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      NothingSaved& saved) override;
  Tensor backward_impl(const NothingSaved& saved, const Tensor& dy, bool need_dx) override;
};

std::unique_ptr<Layer> make_flatten(LayerArgs& args);

}  // namespace lockstep
