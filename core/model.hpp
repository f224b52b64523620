#pragma once
// Model: a sequence of layers whose parameters live in one flat slab.
//
// All parameters are views into one contiguous buffer, all gradients into a
// second one of the same layout (see DESIGN.md "Parameters live in one flat
// slab"). The layout — name, shape, offset of every parameter, in layer order —
// is data and is saved with the model. Backward reports, after each layer, that
// the gradients of that layer are final: the hook a gradient reducer uses to
// start communication while earlier layers still run.
//
// Note: named outputs. A top-level layer token may end in "@name" to name its
// output ("conv2d(16, 3, padding=1) @enc1"), and a later concat(@name) or
// add(@name) takes that output as its second operand (U-Net, FPN). The model
// is then a DAG whose written order is a topological order: forward runs the
// layers in that order, keeping each named output (a layer's own output
// buffer, valid until the next forward); backward runs in reverse, each merge
// handing back the gradient for its named operand, which the model keeps in a
// per-name accumulator (copied at the first use met, added after) and adds to
// the incoming gradient when backward reaches the layer that produced it.
// Every consumer of an output comes after its producer, so when backward
// passes layer i nothing later can still add to the gradients of layer i's
// parameters: on_layer_done(i) keeps its meaning. Parse-time errors name the
// token: unknown name, used before defined, defined twice, shapes that do not
// fit.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/layers/layer.hpp"

namespace lockstep {

struct ParamInfo {
  std::string name;  // "2.weight": layer index and local name
  Shape shape;
  int64_t offset = 0;  // first element in the slab
  int64_t numel = 0;
  Init init = Init::kZeros;
  int64_t fan_in = 0, fan_out = 0;
  size_t layer = 0;
  bool keep_fp32 = false;  // ParamSpec::keep_fp32: no bf16 compute copy
};

enum class InitScheme { kHe, kXavier };

class Model {
 public:
  /// Builds the layers from a spec ("dense(256), relu, dense(10)") for the
  /// per-sample input shape; allocates the parameter and gradient slabs (zero).
  Model(const std::string& layers_spec, const Shape& input_shape, DType dtype = DType::kF32,
        Device device = Device::kCpu);
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  /// Canonical spec of the layers (parsing it gives the same model).
  std::string spec() const;
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  size_t num_layers() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_.at(i); }
  /// The name layer i's output was given ("" when none), see "Note: named outputs".
  const std::string& output_name(size_t i) const { return names_.at(i); }
  /// For a merge (concat/add) layer: the index of the layer whose output it takes; else -1.
  int64_t source_layer(size_t i) const { return sources_.at(i); }

  const std::vector<ParamInfo>& layout() const { return layout_; }
  /// Non-trained state (e.g. BatchNorm running statistics) in its own slab.
  const std::vector<ParamInfo>& buffer_layout() const { return buffer_layout_; }
  Tensor& buffers() { return buffers_; }  // the slab (B,), possibly empty
  const Tensor& buffers() const { return buffers_; }
  int64_t num_params() const { return params_.numel(); }
  Tensor& params() { return params_; }  // the slab (P,)
  Tensor& grads() { return grads_; }    // the slab (P,)
  const Tensor& params() const { return params_; }
  /// [begin, end) of the slab holding layer i's parameters (empty when none).
  std::pair<int64_t, int64_t> layer_slab_range(size_t i) const { return layer_ranges_.at(i); }
  /// In bf16 runs: the weights the layers compute with, the master slab's
  /// GEMM and convolution operands rounded to bfloat16 at every forward (same
  /// layout; keep_fp32 ranges unused). Undefined before the first bf16
  /// forward. See "Note: bf16 mixed precision" (model.cpp).
  const Tensor& compute_params() const { return compute_params_; }

  /// Initialises every parameter from `seed` (weights He or Xavier, biases 0,
  /// scales 1) and resets the buffers (running means 0, variances 1).
  void init_params(uint64_t seed, InitScheme scheme);
  void zero_grad() { grads_.zero(); }

  /// x (N, ...input_shape) -> (N, ...output_shape). At the process's
  /// compute precision (core/precision.hpp): in bf16, x is read (not
  /// written) and the output holds bfloat16 values.
  Tensor forward(const Tensor& x, const RunContext& ctx);
  /// dy (N, ...output_shape): accumulates into the gradient slab; after each
  /// layer (last to first) calls on_layer_done(i) when given. dy is read, not
  /// written.
  void backward(const Tensor& dy, const std::function<void(size_t)>& on_layer_done = {});

 private:
  // Binds every layer's parameter and gradient views; weights from the bf16
  // compute copy when `compute_copy`, else (and keep_fp32 ones always) from
  // the master slab.
  void bind_layers(bool compute_copy);
  // Before a forward: in bf16, refreshes the compute copy from the master
  // slab; (re)binds the layers when the precision changed.
  void prepare_weights(bool bf16);

  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Saved> saved_;
  std::vector<std::string> names_;    // per layer: its output's name or ""
  std::vector<int64_t> sources_;      // per layer: producer of a merge's operand, or -1
  std::vector<Tensor> outputs_;       // per layer: the last forward's output when named
  std::vector<Tensor> named_grads_;   // per named layer: gradient from later merges
  std::vector<char> named_grad_set_;  // per layer: named_grads_ holds this backward's sum
  Shape input_shape_;
  Shape output_shape_;
  DType dtype_;
  Device device_;
  std::vector<ParamInfo> layout_;
  std::vector<ParamInfo> buffer_layout_;
  std::vector<std::pair<int64_t, int64_t>> layer_ranges_;
  Tensor params_;
  Tensor grads_;
  Tensor buffers_;
  // bf16 runs (see "Note: bf16 mixed precision"):
  std::vector<std::pair<int64_t, int64_t>> rounded_ranges_;  // [begin, end) of non-keep_fp32 params
  Tensor compute_params_;       // (P,) the rounded weights the layers compute with
  bool bound_to_copy_ = false;  // the layers' weight views are into compute_params_
  Tensor input_bf16_;           // (N, ...input_shape) the batch rounded
  Tensor dy_bf16_;              // (N, ...output_shape) the loss gradient rounded
};

}  // namespace lockstep
