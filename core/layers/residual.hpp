#pragma once
// residual(layers...): y = x + body(x), the body a layer sequence that keeps
// the shape, e.g. residual(conv2d(16, 3, padding=1), batchnorm, relu, ...).
// Its parameters are the body's, named "<j>.<name>" inside the block.

#include <memory>
#include <vector>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

struct ResidualSaved final : SavedState {
  std::vector<Saved> children;  // one per body layer
};

class Residual final : public LayerWith<ResidualSaved> {
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
                      ResidualSaved& saved) override;
  Tensor backward_impl(const ResidualSaved& saved, const Tensor& dy, bool need_dx) override;

 private:
  std::vector<std::unique_ptr<Layer>> body_;
  std::vector<size_t> param_counts_, buffer_counts_;  // per body layer
};

std::unique_ptr<Layer> make_residual(LayerArgs& args);

}  // namespace lockstep
