#pragma once
// Layers: forward/backward pairs with explicit saved state.
//
// `forward` takes the input batch and returns the output; whatever backward
// needs goes into a `Saved` record the model keeps per layer. `backward` takes
// that record and dy, returns dx (overwritten) and *accumulates* parameter
// gradients into the gradient views bound to the layer. The public entry points
// check shapes and dtypes and call the virtual `*_impl`. Layers keep their
// output and dx buffers between steps (no per-step allocation at a fixed batch).
// Shapes passed to `output_shape` / `param_specs` exclude the batch dimension.

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
};

enum class Init { kZeros, kOnes, kHe, kXavier };

/// A parameter a layer asks for, given its input shape.
struct ParamSpec {
  std::string name;  // local name: "weight", "bias"
  Shape shape;
  Init init = Init::kZeros;
  int64_t fan_in = 0;
  int64_t fan_out = 0;
};

/// What forward saved for backward.
struct Saved {
  Tensor input;                     // x, when backward needs it
  Tensor output;                    // y, when backward needs it
  Tensor mask;                      // dropout
  Tensor index;                     // max pooling: argmax position per output (int32)
  Tensor stats;                     // batch statistics (BatchNorm)
  SumAcrossRanks sum_across_ranks;  // BatchNorm across ranks: backward needs it too
  std::vector<Saved> children;      // composite layers (residual blocks)
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
  virtual Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                              Saved& saved) = 0;
  virtual Tensor backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) = 0;

  /// The layer's reusable output / dx buffers, sized for batch n.
  Tensor& output_buffer(int64_t n, DType dtype, Device device);
  Tensor& grad_input_buffer(int64_t n, DType dtype, Device device);

 private:
  Shape in_shape_;
  Shape out_shape_;
  Tensor out_;
  Tensor dx_;
};

/// Builds one layer from its spec token: dense(256), relu, sigmoid, tanh,
/// dropout(0.2), flatten. Throws naming the token and the known kinds.
std::unique_ptr<Layer> make_layer(const std::string& token);

/// Splits "dense(256), relu, dense(10)" into tokens at top-level commas.
std::vector<std::string> split_layer_spec(const std::string& spec);

}  // namespace lockstep
