#pragma once
// conv_transpose2d(out_channels, kernel[, stride=S][, padding=P]
// [, output_padding=Q][, bias|nobias]): PyTorch's ConvTranspose2d, stride 2 by
// default (the decoder's learned upsampling). W (C, O, k, k) in PyTorch's
// layout, He-initialised with PyTorch's fan-in O*k*k; b (O) zeros. Output
// (O, (H-1)s - 2p + k + q, likewise W). Ops in core/ops/conv_transpose.hpp.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

struct ConvTranspose2DSaved final : SavedState {
  Tensor input;  // x (N, C, H, W)
};

class ConvTranspose2D final : public LayerWith<ConvTranspose2DSaved> {
 public:
  ConvTranspose2D(int64_t out_channels, int64_t kernel, int64_t stride = 2, int64_t padding = 0,
                  int64_t output_padding = 0, bool bias = true);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> param_specs(const Shape& in) const override;
  void bind(std::span<const Tensor> params, std::span<const Tensor> grads) override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      ConvTranspose2DSaved& saved) override;
  Tensor backward_impl(const ConvTranspose2DSaved& saved, const Tensor& dy, bool need_dx) override;

 private:
  int64_t out_channels_, kernel_, stride_, padding_, output_padding_;
  bool bias_;
  Tensor w_, b_, dw_, db_;  // w_ (C, O, k, k), b_ (O)
};

std::unique_ptr<Layer> make_conv_transpose2d(LayerArgs& args);

}  // namespace lockstep
