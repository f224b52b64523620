#pragma once
// dense(units[, nobias]) (alias linear): y = x W^T + b; W (O, I), b (O). Dense
// flattens its input: (N, d1, d2, ...) is treated as (N, d1*d2*...), so an MLP
// applies directly to images.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

struct DenseSaved final : SavedState {
  Tensor x2;  // the input as (N, I)
};

class Dense final : public LayerWith<DenseSaved> {
 public:
  explicit Dense(int64_t units, bool bias = true);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> param_specs(const Shape& in) const override;
  void bind(std::span<const Tensor> params, std::span<const Tensor> grads) override;
  int64_t units() const { return units_; }

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      DenseSaved& saved) override;
  Tensor backward_impl(const DenseSaved& saved, const Tensor& dy, bool need_dx) override;

 private:
  int64_t units_;
  bool bias_;
  Tensor w_, b_, dw_, db_;  // w_ (O, I), b_ (O)
};

std::unique_ptr<Layer> make_dense(LayerArgs& args);

}  // namespace lockstep
