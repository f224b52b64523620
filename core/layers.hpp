#pragma once
// The concrete layers. Dense flattens its input: (N, d1, d2, ...) is treated as
// (N, d1*d2*...), so an MLP applies directly to images.

#include "core/layer.hpp"

namespace lockstep {

/// y = x W^T + b; W (O, I), b (O).
class Dense final : public Layer {
 public:
  explicit Dense(int64_t units, bool bias = true);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> param_specs(const Shape& in) const override;
  void bind(std::span<const Tensor> params, std::span<const Tensor> grads) override;
  int64_t units() const { return units_; }

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Saved& saved) override;
  Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) override;

 private:
  int64_t units_;
  bool bias_;
  Tensor w_, b_, dw_, db_;  // w_ (O, I), b_ (O)
};

enum class Activation { kRelu, kSigmoid, kTanh };

class ActivationLayer final : public Layer {
 public:
  explicit ActivationLayer(Activation kind) : kind_(kind) {}
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override { return in; }

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Saved& saved) override;
  Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) override;

 private:
  Activation kind_;
};

/// Inverted dropout: in training, zeroes each element with probability p and
/// scales the rest by 1/(1-p); identity in evaluation. The mask is a pure
/// function of (dropout key of the step, layer index, element index).
class Dropout final : public Layer {
 public:
  explicit Dropout(double p);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override { return in; }
  double rate() const { return p_; }

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Saved& saved) override;
  Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) override;

 private:
  double p_;
};

/// (N, d1, d2, ...) -> (N, d1*d2*...), a view.
class Flatten final : public Layer {
 public:
  std::string spec() const override { return "flatten"; }
  Shape output_shape(const Shape& in) const override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Saved& saved) override;
  Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) override;
};

}  // namespace lockstep
