#pragma once
// upsample(scale[, mode=nearest|bilinear]): (N, C, H, W) -> (N, C, H*s, W*s)
// by an integer factor, nearest neighbour (the default) or bilinear with
// PyTorch's align_corners=false. No parameters. Ops in core/ops/resize.hpp.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"
#include "core/ops/resize.hpp"

namespace lockstep {

class Upsample final : public LayerWith<NothingSaved> {
 public:
  Upsample(int64_t scale, ops::UpsampleMode mode);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      NothingSaved& saved) override;
  Tensor backward_impl(const NothingSaved& saved, const Tensor& dy, bool need_dx) override;

 private:
  int64_t scale_;
  ops::UpsampleMode mode_;
};

std::unique_ptr<Layer> make_upsample(LayerArgs& args);

}  // namespace lockstep
