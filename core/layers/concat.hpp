#pragma once
// Merges with a named earlier output (skip connections, see core/model.hpp
// "Note: named outputs"): concat(@name) joins the current tensor and the
// output named `name` along channels (current first), so (C1, H, W) and
// (C2, H, W) give (C1 + C2, H, W); add(@name) adds it (equal shapes). No
// parameters. The model hands the merge its second operand before forward
// (set_source) and takes the gradient for it after backward (source_grad):
// the second operand is not the layer's input, so it travels beside the
// checked forward/backward pair rather than through it.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

class Merge : public LayerWith<NothingSaved> {
 public:
  /// The name of the output this layer takes (without '@').
  const std::string& source() const { return source_; }
  /// The per-sample shape of that output; set by the model before set_input_shape.
  void set_source_shape(const Shape& s) { source_shape_ = s; }
  /// That output for the next forward (N, ...source shape).
  void set_source(const Tensor& t) { source_value_ = t; }
  /// dL/d(source) of the last backward (N, ...source shape); overwritten each backward.
  const Tensor& source_grad() const { return source_grad_; }

 protected:
  explicit Merge(std::string source) : source_(std::move(source)) {}
  const Shape& source_shape() const { return source_shape_; }
  const Tensor& source_value() const;
  Tensor& source_grad_buffer(int64_t n, DType dtype, Device device);
  Tensor source_grad_;

 private:
  std::string source_;
  Shape source_shape_;
  Tensor source_value_;
};

class Concat final : public Merge {
 public:
  explicit Concat(std::string source) : Merge(std::move(source)) {}
  std::string spec() const override { return "concat(@" + source() + ")"; }
  Shape output_shape(const Shape& in) const override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      NothingSaved& saved) override;
  Tensor backward_impl(const NothingSaved& saved, const Tensor& dy, bool need_dx) override;
};

class AddNamed final : public Merge {
 public:
  explicit AddNamed(std::string source) : Merge(std::move(source)) {}
  std::string spec() const override { return "add(@" + source() + ")"; }
  Shape output_shape(const Shape& in) const override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      NothingSaved& saved) override;
  Tensor backward_impl(const NothingSaved& saved, const Tensor& dy, bool need_dx) override;
};

std::unique_ptr<Layer> make_concat(LayerArgs& args);
std::unique_ptr<Layer> make_add(LayerArgs& args);

}  // namespace lockstep
