#pragma once
// conv2d(out_channels, kernel[, stride=S][, padding=P][, bias|nobias]):
// y = conv(x, W) + b; W (O, C, k, k) He-initialised, b (O) zeros. Arguments
// may also be given by name (kernel=3) or by position in PyTorch's order
// (conv2d(32, 3, 2, 1)); spec() writes the canonical form. The ops underneath
// are in core/ops/conv.hpp.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

struct Conv2DSaved final : SavedState {
  Tensor input;  // x (N, C, H, W)
};

class Conv2D final : public LayerWith<Conv2DSaved> {
 public:
  Conv2D(int64_t out_channels, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         bool bias = true);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> param_specs(const Shape& in) const override;
  void bind(std::span<const Tensor> params, std::span<const Tensor> grads) override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Conv2DSaved& saved) override;
  Tensor backward_impl(const Conv2DSaved& saved, const Tensor& dy, bool need_dx) override;

 private:
  int64_t out_channels_, kernel_, stride_, padding_;
  bool bias_;
  Tensor w_, b_, dw_, db_;  // w_ (O, C, k, k), b_ (O)
  Tensor workspace_;        // CPU im2col scratch, kept between steps (a GPU
                            // uses its shared one: core/cuda/workspace.hpp)
};

std::unique_ptr<Layer> make_conv2d(LayerArgs& args);

}  // namespace lockstep
