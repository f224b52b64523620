#pragma once
// global_avg_pool (alias gap): (C, H, W) -> (C), the mean of each channel's plane.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

class GlobalAvgPool final : public LayerWith<NothingSaved> {
 public:
  std::string spec() const override { return "global_avg_pool"; }
  Shape output_shape(const Shape& in) const override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      NothingSaved& saved) override;
  Tensor backward_impl(const NothingSaved& saved, const Tensor& dy, bool need_dx) override;
};

std::unique_ptr<Layer> make_global_avg_pool(LayerArgs& args);

}  // namespace lockstep
