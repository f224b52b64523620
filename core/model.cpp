#include "core/model.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/layers/concat.hpp"
#include "core/layers/registry.hpp"
#include "core/ops/elementwise.hpp"
#include "core/precision.hpp"
#include "core/rng.hpp"

namespace lockstep {
namespace {

bool valid_name(const std::string& n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

// Splits "conv2d(16, 3) @enc1" into the layer token and the name ("" when
// none); only an '@' outside parentheses names the output.
std::pair<std::string, std::string> split_name(const std::string& token) {
  int depth = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    depth += token[i] == '(' ? 1 : token[i] == ')' ? -1 : 0;
    if (token[i] != '@' || depth != 0) continue;
    std::string layer = token.substr(0, i), name = token.substr(i + 1);
    while (!layer.empty() && std::isspace(static_cast<unsigned char>(layer.back())))
      layer.pop_back();
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.front())))
      name.erase(0, 1);
    LOCKSTEP_CHECK(!layer.empty() && valid_name(name),
                   "model layer '" << token << "': expected 'layer @name' with a name of letters, "
                                   << "digits and '_' (not starting with a digit)");
    return {layer, name};
  }
  return {token, ""};
}

}  // namespace

Model::Model(const std::string& layers_spec, const Shape& input_shape, DType dtype, Device device)
    : input_shape_(input_shape), dtype_(dtype), device_(device) {
  LOCKSTEP_CHECK(dtype == DType::kF32 || dtype == DType::kF64,
                 "model dtype: expected float32 or float64, got " << to_string(dtype));
  LOCKSTEP_CHECK(!input_shape.empty() && shape_numel(input_shape) > 0,
                 "model input: expected a non-empty sample shape, got " << shape_str(input_shape));
  Shape shape = input_shape;
  int64_t offset = 0, buffer_offset = 0;
  std::vector<Shape> shapes;  // per layer: its output's per-sample shape
  for (const std::string& written : split_layer_spec(layers_spec)) {
    const auto [token, name] = split_name(written);
    auto layer = make_layer(token);
    const size_t index = layers_.size();
    int64_t source = -1;
    if (auto* merge = dynamic_cast<Merge*>(layer.get())) {
      const auto at = std::find(names_.begin(), names_.end(), merge->source());
      LOCKSTEP_CHECK(at != names_.end(),
                     "model layer " << index << " '" << written << "': no earlier layer is named @"
                                    << merge->source() << "; expected a layer before it written "
                                    << "'... @" << merge->source() << "'");
      source = at - names_.begin();
      merge->set_source_shape(shapes[static_cast<size_t>(source)]);
    }
    if (!name.empty())
      LOCKSTEP_CHECK(std::find(names_.begin(), names_.end(), name) == names_.end(),
                     "model layer "
                         << index << " '" << written << "': the name @" << name
                         << " is already given to layer "
                         << std::find(names_.begin(), names_.end(), name) - names_.begin()
                         << "; expected each name once");
    try {
      layer->set_input_shape(shape);
    } catch (const Error& e) {
      throw Error("model layer " + std::to_string(index) + " '" + written + "' on input " +
                  shape_str(shape) + ": " + e.what());
    }
    const int64_t first = offset;
    for (const ParamSpec& p : layer->param_specs(shape)) {
      ParamInfo info{std::to_string(index) + "." + p.name,
                     p.shape,
                     offset,
                     shape_numel(p.shape),
                     p.init,
                     p.fan_in,
                     p.fan_out,
                     index,
                     p.keep_fp32};
      offset += info.numel;
      if (!p.keep_fp32 && info.numel > 0) {
        if (!rounded_ranges_.empty() && rounded_ranges_.back().second == info.offset)
          rounded_ranges_.back().second = offset;
        else
          rounded_ranges_.emplace_back(info.offset, offset);
      }
      layout_.push_back(std::move(info));
    }
    layer_ranges_.emplace_back(first, offset);
    for (const ParamSpec& p : layer->buffer_specs(shape)) {
      ParamInfo info{std::to_string(index) + "." + p.name,
                     p.shape,
                     buffer_offset,
                     shape_numel(p.shape),
                     p.init,
                     p.fan_in,
                     p.fan_out,
                     index};
      buffer_offset += info.numel;
      buffer_layout_.push_back(std::move(info));
    }
    shape = layer->output_shape(shape);
    shapes.push_back(shape);
    names_.push_back(name);
    sources_.push_back(source);
    layers_.push_back(std::move(layer));
  }
  output_shape_ = shape;
  saved_.resize(layers_.size());
  outputs_.resize(layers_.size());
  named_grads_.resize(layers_.size());
  named_grad_set_.assign(layers_.size(), 0);
  params_ = Tensor::zeros({offset}, dtype, device);
  grads_ = Tensor::zeros({offset}, dtype, device);
  buffers_ = Tensor::zeros({buffer_offset}, dtype, device);
  // Bind each layer's views into the slabs.
  bind_layers(false);
  for (size_t i = 0, b = 0; i < layers_.size(); ++i) {
    std::vector<Tensor> views;
    for (; b < buffer_layout_.size() && buffer_layout_[b].layer == i; ++b)
      views.push_back(buffers_.view(buffer_layout_[b].offset, buffer_layout_[b].shape));
    if (!views.empty()) layers_[i]->bind_buffers(views);
  }
}

std::string Model::spec() const {
  std::string s;
  for (size_t i = 0; i < layers_.size(); ++i)
    s += (i ? ", " : "") + layers_[i]->spec() + (names_[i].empty() ? "" : " @" + names_[i]);
  return s;
}

namespace {

// Fills `slab` (host) with the initial values of `layout` from `seed`.
void fill_initial(Tensor& slab, const std::vector<ParamInfo>& layout, uint64_t seed,
                  InitScheme scheme) {
  for (size_t k = 0; k < layout.size(); ++k) {
    const ParamInfo& p = layout[k];
    Rng rng(hash_keys({seed, k}));
    std::vector<double> values(static_cast<size_t>(p.numel), p.init == Init::kOnes ? 1.0 : 0.0);
    if (p.init == Init::kHe || p.init == Init::kXavier) {
      if (p.init == Init::kHe && scheme == InitScheme::kHe) {
        // He (Kaiming) normal: std = sqrt(2 / fan_in)
        const double sd = std::sqrt(2.0 / static_cast<double>(p.fan_in));
        for (double& v : values) v = sd * rng.normal();
      } else {  // Xavier (Glorot) uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
        const double a = std::sqrt(6.0 / static_cast<double>(p.fan_in + p.fan_out));
        for (double& v : values) v = a * (2.0 * rng.uniform() - 1.0);
      }
    }
    Tensor view = slab.view(p.offset, {p.numel});
    if (slab.dtype() == DType::kF32) {
      float* d = view.data<float>();
      for (size_t i = 0; i < values.size(); ++i) d[i] = static_cast<float>(values[i]);
    } else {
      double* d = view.data<double>();
      for (size_t i = 0; i < values.size(); ++i) d[i] = values[i];
    }
  }
}

}  // namespace

void Model::init_params(uint64_t seed, InitScheme scheme) {
  // Values are drawn on the host (the same on every device) and copied over.
  Tensor host = Tensor::zeros(params_.shape(), dtype_);
  fill_initial(host, layout_, seed, scheme);
  params_.copy_from(host);
  Tensor host_buffers = Tensor::zeros(buffers_.shape(), dtype_);
  fill_initial(host_buffers, buffer_layout_, seed, scheme);
  buffers_.copy_from(host_buffers);
}

// Note: bf16 mixed precision. With dist.precision = bf16
// (compute_precision() == kBf16) a model computes as PyTorch's autocast to
// bfloat16 would, on float32 storage:
//
// - Master weights stay float32 in the parameter slab, gradients accumulate
//   in float32 in the gradient slab, and the optimizer (and its state) only
//   ever sees those two. The layers compute with a compute copy of the
//   weights instead: a second slab of the same layout into which every
//   forward rounds the parameters that are GEMM or convolution operands
//   (weights and biases of dense, conv2d, conv_transpose2d: every parameter
//   whose ParamSpec is not keep_fp32), one pass per contiguous run of them;
//   the layers' weight views point there, their gradient views at the
//   float32 gradient slab. BatchNorm's scale and shift are keep_fp32: the
//   layer reads the master values. Weight gradients are not rounded (they
//   go from the GEMM's float32 accumulator into the slab; autocast rounds
//   them, as gradients of its bf16 weight copies), and steps smaller than
//   bfloat16's resolution still move the master weights.
// - Activations: the model rounds its input batch into its own buffer (the
//   caller's batch is not written), every layer's output and dx are rounded
//   where they leave the layer (Layer::forward / backward), the loss gradient
//   as it enters backward, and the sum of gradients reaching a named output.
//   The model's output (logits, as from any bf16 GEMM) is rounded too, but
//   the loss and softmax compute in float32 from it.
// - Inside a layer, arithmetic is float32 on those bfloat16 values, rounded
//   once on the way out, as autocast's bf16 kernels do: GEMMs and
//   convolutions multiply bfloat16 values (exact in float32) and accumulate
//   in float32 (on GPUs cuBLAS's CUBLAS_COMPUTE_32F_FAST_16BF, whose
//   conversion of these inputs is exact; on CPUs OpenBLAS's sgemm, so a CPU
//   rank emulates the same rounding up to summation order); BatchNorm's
//   statistics and normalisation are float32.
// - Evaluation and prediction in the same process use the same precision;
//   `lockstep eval` and `predict` load a model and compute in float32.
//
// The values are bfloat16 but their storage is float32: activations take the
// same memory as in fp32, and the gain on GPUs is the tensor-core GEMM. On
// CPU ranks bf16 is an emulation for tests (slower than fp32: the rounding
// passes). Cost per forward: one rounding pass over the rounded parameters
// (the compute copy is allocated once, at the first bf16 forward).

void Model::bind_layers(bool compute_copy) {
  size_t next = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    std::vector<Tensor> p, g;
    for (; next < layout_.size() && layout_[next].layer == i; ++next) {
      const ParamInfo& info = layout_[next];
      const Tensor& slab = compute_copy && !info.keep_fp32 ? compute_params_ : params_;
      p.push_back(slab.view(info.offset, info.shape));
      g.push_back(grads_.view(info.offset, info.shape));
    }
    layers_[i]->bind(p, g);
  }
}

void Model::prepare_weights(bool bf16) {
  if (bf16) {
    LOCKSTEP_CHECK(dtype_ == DType::kF32,
                   "dist.precision bf16: expected a float32 model, got " << to_string(dtype_));
    if (!compute_params_.defined())
      compute_params_ = Tensor::zeros(params_.shape(), dtype_, device_);
    for (const auto& [begin, end] : rounded_ranges_) {
      Tensor copy = compute_params_.view(begin, {end - begin});
      ops::round_bf16(params_.view(begin, {end - begin}), copy);
    }
  }
  if (bf16 != bound_to_copy_) {
    bind_layers(bf16);
    bound_to_copy_ = bf16;
  }
}

Tensor Model::forward(const Tensor& x, const RunContext& ctx) {
  const bool bf16 = compute_precision() == Precision::kBf16;
  prepare_weights(bf16);
  Tensor h = x;
  if (bf16) {
    ensure_shape(input_bf16_, x.shape(), x.dtype(), x.device());
    ops::round_bf16(x, input_bf16_);
    h = input_bf16_;
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (sources_[i] >= 0)
      static_cast<Merge&>(*layers_[i]).set_source(outputs_[static_cast<size_t>(sources_[i])]);
    h = layers_[i]->forward(h, ctx, i, saved_[i]);
    if (!names_[i].empty()) outputs_[i] = h;
    if (ctx.on_layer_forwarded) ctx.on_layer_forwarded(i);
  }
  return h;
}

void Model::backward(const Tensor& dy, const std::function<void(size_t)>& on_layer_done) {
  // See "Note: named outputs" (model.hpp).
  std::fill(named_grad_set_.begin(), named_grad_set_.end(), 0);
  // See "Note: bf16 mixed precision".
  const bool bf16 = compute_precision() == Precision::kBf16 && dtype_ == DType::kF32;
  Tensor g = dy;
  if (bf16) {
    ensure_shape(dy_bf16_, dy.shape(), dy.dtype(), dy.device());
    ops::round_bf16(dy, dy_bf16_);
    g = dy_bf16_;
  }
  for (size_t i = layers_.size(); i-- > 0;) {
    if (named_grad_set_[i]) {  // this output also fed later merges
      ops::add(g, named_grads_[i], named_grads_[i]);
      if (bf16) ops::round_bf16(named_grads_[i]);
      g = named_grads_[i];
    }
    // The input of layer 0 is data: its gradient is never needed.
    g = layers_[i]->backward(saved_[i], g, /*need_dx=*/i > 0);
    if (sources_[i] >= 0) {
      const auto j = static_cast<size_t>(sources_[i]);
      const Tensor& ds = static_cast<const Merge&>(*layers_[i]).source_grad();
      if (named_grad_set_[j]) {
        ops::add(named_grads_[j], ds, named_grads_[j]);
      } else {
        ensure_shape(named_grads_[j], ds.shape(), ds.dtype(), ds.device());
        named_grads_[j].copy_from(ds);
        named_grad_set_[j] = 1;
      }
    }
    if (on_layer_done) on_layer_done(i);
  }
}

}  // namespace lockstep
