#pragma once
// Convolutional layers for image models. Per-sample shapes are (C, H, W)
// (batches NCHW); kernels are square, stride and padding the same along both
// axes. The ops underneath are in core/ops_conv.hpp.
//
//   conv2d(out_channels, kernel[, stride=S][, padding=P][, bias|nobias])
//   maxpool2d(kernel[, stride=S][, padding=P])   stride defaults to kernel
//   avgpool2d(kernel[, stride=S][, padding=P])   padding counts as zeros
//   global_avg_pool (alias gap)                  (C, H, W) -> (C)
//
// Arguments may also be given by name (kernel=3) or by position in PyTorch's
// order (conv2d(32, 3, 2, 1)); spec() writes the canonical form above.

#include <memory>
#include <string>
#include <vector>

#include "core/layer.hpp"

namespace lockstep {

/// The convolutional kinds the parser knows, for error messages.
inline constexpr const char* kConvLayers =
    "conv2d(out_channels, kernel[, stride=S][, padding=P][, nobias]), "
    "maxpool2d(kernel[, stride=S][, padding=P]), avgpool2d(kernel[, stride=S][, padding=P]), "
    "global_avg_pool (gap)";

/// y = conv(x, W) + b; W (O, C, k, k) He-initialised, b (O) zeros.
class Conv2D final : public Layer {
 public:
  Conv2D(int64_t out_channels, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         bool bias = true);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> param_specs(const Shape& in) const override;
  void bind(std::span<const Tensor> params, std::span<const Tensor> grads) override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Saved& saved) override;
  Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) override;

 private:
  int64_t out_channels_, kernel_, stride_, padding_;
  bool bias_;
  Tensor w_, b_, dw_, db_;  // w_ (O, C, k, k), b_ (O)
  Tensor workspace_;        // im2col scratch, kept between steps
};

enum class PoolKind { kMax, kAvg };

/// Max or average over k x k windows. Max pooling saves the argmax of each
/// window (ties: the first in row-major order) and routes dy only there.
class Pool2D final : public Layer {
 public:
  /// stride 0 means "equal to the kernel".
  Pool2D(PoolKind kind, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Saved& saved) override;
  Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) override;

 private:
  PoolKind kind_;
  int64_t kernel_, stride_, padding_;
};

/// (C, H, W) -> (C): the mean of each channel's plane.
class GlobalAvgPool final : public Layer {
 public:
  std::string spec() const override { return "global_avg_pool"; }
  Shape output_shape(const Shape& in) const override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Saved& saved) override;
  Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) override;
};

/// Builds a convolutional layer from its parsed spec (name and arguments as
/// written, e.g. name "conv2d", args {"32", "3", "stride=2", "padding=1"}), or
/// returns nullptr when `name` is not a convolutional kind. Throws naming the
/// token when the arguments are wrong.
std::unique_ptr<Layer> make_conv_layer(const std::string& name,
                                       const std::vector<std::string>& args,
                                       const std::string& token);

}  // namespace lockstep
