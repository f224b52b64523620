#pragma once
// Layers: forward/backward pairs with explicit, typed saved state.
//
// `forward` takes the input batch and returns the output; whatever backward
// needs goes into the layer's own saved record (a struct deriving from
// SavedState, e.g. DenseSaved), held in a `Saved` slot the model keeps per
// layer and reused from step to step. `backward` takes that slot and dy,
// returns dx (overwritten) and *accumulates* parameter gradients into the
// gradient views bound to the layer. The public entry points check shapes and
// dtypes and call the layer's implementation. Layers keep their output and dx
// buffers between steps (no per-step allocation at a fixed batch). Shapes
// passed to `output_shape` / `param_specs` exclude the batch dimension.
//
// In bf16 runs (compute_precision() == kBf16) the public entry points round
// what the layer hands on to bfloat16 values: forward's output and
// backward's dx (see "Note: bf16 mixed precision", core/model.cpp). A layer
// that hands back its input itself (a reshape, dropout in eval) leaves it as
// it came: whoever made that tensor rounded it, and a caller's data is never
// written.
//
// A layer kind is one file in core/layers/ (its class, its saved record and
// its factory) plus one line in the registry (registry.cpp).

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace lockstep {

enum class Mode { kTrain, kEval };

/// Sums a float32 tensor (on the model's device) over all ranks, in place.
/// Given to layers that compute statistics across ranks (synchronised
/// BatchNorm); empty when training on one process.
using SumAcrossRanks = std::function<void(Tensor&)>;

/// What one forward pass needs to know besides its input.
struct RunContext {
  RunContext(Mode m = Mode::kTrain, uint64_t key = 0) : mode(m), dropout_key(key) {}
  Mode mode = Mode::kTrain;
  uint64_t dropout_key = 0;  // per step and rank; each layer mixes in its index
  SumAcrossRanks sum_across_ranks;
  int world = 1;  // ranks taking part (every rank's training batch has the same size)
  /// When set, called after each layer's forward (layer index): timelines.
  std::function<void(size_t)> on_layer_forwarded;
};

enum class Init { kZeros, kOnes, kHe, kXavier };

/// A parameter a layer asks for, given its input shape.
struct ParamSpec {
  std::string name;  // local name: "weight", "bias"
  Shape shape;
  Init init = Init::kZeros;
  int64_t fan_in = 0;
  int64_t fan_out = 0;
  /// In bf16 runs the layer computes with the float32 master value itself,
  /// not a bfloat16-rounded copy (BatchNorm's scale and shift); false for
  /// GEMM and convolution operands (see "Note: bf16 mixed precision").
  bool keep_fp32 = false;
};

/// The base of every layer's saved record.
struct SavedState {
  virtual ~SavedState() = default;
};

/// One layer's slot for what its forward saved for its backward. The layer
/// puts its own record type here on its first forward and reuses it after.
class Saved {
 public:
  /// The record of type S, made when the slot is empty or holds another type.
  template <class S>
  S& reuse() {
    if (auto* s = dynamic_cast<S*>(state_.get())) return *s;
    state_ = std::make_unique<S>();
    return static_cast<S&>(*state_);
  }
  /// The record of type S that a forward left here.
  template <class S>
  const S& get() const {
    const auto* s = dynamic_cast<const S*>(state_.get());
    LOCKSTEP_CHECK(s != nullptr, "layer backward: no saved state of this layer (forward first)");
    return *s;
  }

 private:
  std::unique_ptr<SavedState> state_;
};

class Layer {
 public:
  virtual ~Layer() = default;

  /// Canonical spec text, e.g. "dense(256)" — parsing it gives the same layer.
  virtual std::string spec() const = 0;
  /// Per-sample output shape for a per-sample input shape; throws with a clear
  /// message when the input does not fit the layer.
  virtual Shape output_shape(const Shape& in) const = 0;
  /// The parameters this layer needs for that input (none by default).
  virtual std::vector<ParamSpec> param_specs(const Shape& /*in*/) const { return {}; }
  /// Receives views into the model's parameter and gradient slabs, in the
  /// order of param_specs.
  virtual void bind(std::span<const Tensor> /*params*/, std::span<const Tensor> /*grads*/) {}
  /// Non-trained state kept with the model (BatchNorm running statistics):
  /// specs, then views into the model's buffer slab in that order.
  virtual std::vector<ParamSpec> buffer_specs(const Shape& /*in*/) const { return {}; }
  virtual void bind_buffers(std::span<const Tensor> /*buffers*/) {}

  /// Checked forward: x is (N, ...in); returns (N, ...out).
  Tensor forward(const Tensor& x, const RunContext& ctx, uint64_t layer_index, Saved& saved);
  /// Checked backward: dy is (N, ...out); returns dx (N, ...in), or an
  /// undefined tensor when !need_dx and the layer can skip computing it.
  Tensor backward(const Saved& saved, const Tensor& dy, bool need_dx = true);

  /// Set once by the model: the per-sample input shape this layer was built for.
  void set_input_shape(const Shape& in) {
    in_shape_ = in;
    out_shape_ = output_shape(in);
    on_input_shape(in);
  }
  const Shape& input_shape() const { return in_shape_; }

 protected:
  /// Called once the input shape is known (composite layers pass it on).
  virtual void on_input_shape(const Shape& /*in*/) {}
  /// Implemented by LayerWith<S>, which hands the layer its typed record.
  virtual Tensor forward_saved(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                               Saved& saved) = 0;
  virtual Tensor backward_saved(const Saved& saved, const Tensor& dy, bool need_dx) = 0;

  /// The layer's reusable output / dx buffers, sized for batch n.
  Tensor& output_buffer(int64_t n, DType dtype, Device device);
  Tensor& grad_input_buffer(int64_t n, DType dtype, Device device);

 private:
  Shape in_shape_;
  Shape out_shape_;
  Tensor out_;
  Tensor dx_;
};

/// A layer whose forward saves a record of type S (a SavedState) for its
/// backward: the base of every concrete layer.
template <class S>
class LayerWith : public Layer {
 protected:
  virtual Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                              S& saved) = 0;
  virtual Tensor backward_impl(const S& saved, const Tensor& dy, bool need_dx) = 0;

 private:
  Tensor forward_saved(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                       Saved& saved) final {
    return forward_impl(x, ctx, layer_index, saved.reuse<S>());
  }
  Tensor backward_saved(const Saved& saved, const Tensor& dy, bool need_dx) final {
    return backward_impl(saved.get<S>(), dy, need_dx);
  }
};

/// The record of a layer whose backward needs nothing of its forward.
struct NothingSaved final : SavedState {};

}  // namespace lockstep
