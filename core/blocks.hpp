#pragma once
// BatchNorm and residual blocks.
//
// BatchNorm normalises each channel (dense features, or image channels over
// H and W) with the batch statistics in training and the running statistics in
// evaluation; gamma/beta are parameters, the running mean and variance are
// model buffers (saved with the model, not trained). With `sync` the batch
// statistics, and the sums backward needs, are summed across ranks, so P ranks
// normalise exactly like one process on the concatenated batch.
//
// Residual: y = x + body(x), the body a layer sequence that keeps the shape,
// written in the config as residual(conv2d(16, 3, padding=1), batchnorm, relu, ...).

#include <memory>
#include <vector>

#include "core/layer.hpp"

namespace lockstep {

class BatchNorm final : public Layer {
 public:
  BatchNorm(double momentum, double eps, bool sync);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> param_specs(const Shape& in) const override;
  std::vector<ParamSpec> buffer_specs(const Shape& in) const override;
  void bind(std::span<const Tensor> params, std::span<const Tensor> grads) override;
  void bind_buffers(std::span<const Tensor> buffers) override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Saved& saved) override;
  Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) override;

 private:
  double momentum_, eps_;
  bool sync_;
  Tensor gamma_, beta_, dgamma_, dbeta_;  // (C)
  Tensor running_mean_, running_var_;     // (C) buffers
  Tensor sums_, mean_;                    // (2, C), (C) workspaces
  double count_ = 0;                      // values per channel in the last batch (global)
  bool batch_stats_ = false;              // the last forward normalised with batch statistics
};

class Residual final : public Layer {
 public:
  explicit Residual(std::vector<std::unique_ptr<Layer>> body);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> param_specs(const Shape& in) const override;
  std::vector<ParamSpec> buffer_specs(const Shape& in) const override;
  void bind(std::span<const Tensor> params, std::span<const Tensor> grads) override;
  void bind_buffers(std::span<const Tensor> buffers) override;

 protected:
  void on_input_shape(const Shape& in) override;
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Saved& saved) override;
  Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) override;

 private:
  std::vector<std::unique_ptr<Layer>> body_;
  std::vector<size_t> param_counts_, buffer_counts_;  // per body layer
};

}  // namespace lockstep
