// ONNX export (onnx.hpp): one emitter per layer kind, in the table `kinds()`.
// An emitter gets the layer's spec token (parsed with the same argument specs
// as its factory), the name and shape of its input tensor, and the prefix of
// its parameter names ("3." for layer 3, "3.1." for the second layer of the
// residual block at 3); it adds its nodes and returns the name of its output.
// Adding a layer kind to the exporter is one emitter and one table entry.
// Named outputs (a top-level "layer @name") stay graph values: a later
// concat(@name) is a Concat (axis 1, the current tensor first) and add(@name)
// an Add of the current tensor and that value.

#include <cctype>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/layers/args.hpp"
#include "core/layers/concat.hpp"
#include "core/layers/registry.hpp"
#include "io/onnx.hpp"
#include "io/onnx_util.hpp"

namespace lockstep::io {
namespace {

using onnx_util::add_initializer;
using onnx_util::add_node;
using onnx_util::set_float;
using onnx_util::set_int;
using onnx_util::set_ints;
using onnx_util::set_string;

// Per-output-channel y * scale + shift, folded into the layer before it.
struct Affine {
  std::vector<float> scale, shift;
};

class Exporter {
 public:
  Exporter(const Model& model, onnx::GraphProto& g, bool fold) : g_(g), fold_(fold) {
    params_ = host_copy(model.params());
    buffers_ = host_copy(model.buffers());
    for (const ParamInfo& p : model.layout()) params_by_name_[p.name] = p;
    for (const ParamInfo& p : model.buffer_layout()) buffers_by_name_[p.name] = p;
  }

  onnx::GraphProto& graph() { return g_; }
  bool fold() const { return fold_; }
  int64_t folded = 0;

  // Named outputs ("conv2d(8, 3) @enc1"): the graph value and per-sample shape.
  struct Named {
    std::string value;
    Shape shape;
  };
  std::map<std::string, Named> named;
  const Named& named_output(const std::string& name) const {
    const auto it = named.find(name);
    LOCKSTEP_CHECK(it != named.end(), "ONNX export: no earlier layer is named @" << name);
    return it->second;
  }

  std::vector<float> param(const std::string& name, bool buffer = false) const {
    const auto& by_name = buffer ? buffers_by_name_ : params_by_name_;
    const auto it = by_name.find(name);
    LOCKSTEP_CHECK(it != by_name.end(),
                   "ONNX export: the model has no " << (buffer ? "buffer " : "parameter ") << name);
    const std::vector<float>& slab = buffer ? buffers_ : params_;
    const auto begin = slab.begin() + it->second.offset;
    return {begin, begin + it->second.numel};
  }
  bool has_param(const std::string& name) const { return params_by_name_.count(name) > 0; }

  // A new initializer named after the parameter.
  std::string constant(const std::string& name, const Shape& shape, const std::vector<float>& v) {
    add_initializer(g_, name, shape, v);
    return name;
  }
  // A fresh tensor name for the output of `what` at `prefix` ("3." -> "l3.relu").
  std::string tensor(const std::string& prefix, const std::string& what) {
    std::string p = prefix.substr(0, prefix.size() - 1);
    return "l" + p + "." + what;
  }

 private:
  static std::vector<float> host_copy(const Tensor& t) {
    if (t.numel() == 0) return {};
    Tensor host = Tensor::empty(t.shape(), DType::kF32);
    host.copy_from(t);
    return {host.data<float>(), host.data<float>() + host.numel()};
  }

  onnx::GraphProto& g_;
  bool fold_;
  std::vector<float> params_, buffers_;
  std::map<std::string, ParamInfo> params_by_name_, buffers_by_name_;
};

// Inputs of an emitter; `after` (conv2d, dense) is a BatchNorm folded in.
struct At {
  const std::string& prefix;
  const std::string& x;
  const Shape& in;
  const Affine* after = nullptr;
};

using Emit = std::string (*)(Exporter& ex, LayerArgs& args, const At& at);

// Weight (O, ...) and bias (O) with `after` folded in: W' = W * s, b' = b * s + t.
void fold_into(const Affine* after, std::vector<float>& w, std::vector<float>& b) {
  if (!after) return;
  const size_t out = after->scale.size(), per = w.size() / out;
  for (size_t o = 0; o < out; ++o) {
    for (size_t k = 0; k < per; ++k) w[o * per + k] *= after->scale[o];
    b[o] = b[o] * after->scale[o] + after->shift[o];
  }
}

std::string emit_dense(Exporter& ex, LayerArgs& args, const At& at) {
  args.bind({{"units"}}, {"bias", "nobias"});
  const int64_t units = args.integer("units"), fan_in = shape_numel(at.in);
  std::string x = at.x;
  if (at.in.size() != 1) {
    const std::string flat = ex.tensor(at.prefix, "flatten");
    set_int(add_node(ex.graph(), "Flatten", {x}, {flat}, flat), "axis", 1);
    x = flat;
  }
  std::vector<float> w = ex.param(at.prefix + "weight");
  const bool bias = ex.has_param(at.prefix + "bias") || at.after;
  std::vector<float> b = ex.has_param(at.prefix + "bias") ? ex.param(at.prefix + "bias")
                                                          : std::vector<float>(units, 0.0f);
  fold_into(at.after, w, b);
  std::vector<std::string> inputs{x, ex.constant(at.prefix + "weight", {units, fan_in}, w)};
  if (bias) inputs.push_back(ex.constant(at.prefix + "bias", {units}, b));
  const std::string y = ex.tensor(at.prefix, "dense");
  set_int(add_node(ex.graph(), "Gemm", inputs, {y}, y), "transB", 1);  // x (N, I) W^T, W (O, I)
  return y;
}

void set_window(onnx::NodeProto& n, int64_t kernel, int64_t stride, int64_t padding) {
  set_ints(n, "kernel_shape", {kernel, kernel});
  set_ints(n, "strides", {stride, stride});
  set_ints(n, "pads", {padding, padding, padding, padding});
}

std::string emit_conv2d(Exporter& ex, LayerArgs& args, const At& at) {
  args.bind({{"out_channels"}, {"kernel"}, {"stride"}, {"padding"}}, {"bias", "nobias"});
  const int64_t out = args.integer("out_channels"), k = args.integer("kernel");
  std::vector<float> w = ex.param(at.prefix + "weight");
  const bool has_bias = ex.has_param(at.prefix + "bias");
  std::vector<float> b = has_bias ? ex.param(at.prefix + "bias") : std::vector<float>(out, 0.0f);
  fold_into(at.after, w, b);
  std::vector<std::string> inputs{at.x,
                                  ex.constant(at.prefix + "weight", {out, at.in[0], k, k}, w)};
  if (has_bias || at.after) inputs.push_back(ex.constant(at.prefix + "bias", {out}, b));
  const std::string y = ex.tensor(at.prefix, "conv2d");
  onnx::NodeProto& n = add_node(ex.graph(), "Conv", inputs, {y}, y);
  set_window(n, k, args.integer("stride", 1), args.integer("padding", 0));
  return y;
}

std::string emit_unary(Exporter& ex, const At& at, const char* op, const std::string& what) {
  const std::string y = ex.tensor(at.prefix, what);
  add_node(ex.graph(), op, {at.x}, {y}, y);
  return y;
}

std::string emit_relu(Exporter& ex, LayerArgs& args, const At& at) {
  args.expect_none();
  return emit_unary(ex, at, "Relu", "relu");
}
std::string emit_sigmoid(Exporter& ex, LayerArgs& args, const At& at) {
  args.expect_none();
  return emit_unary(ex, at, "Sigmoid", "sigmoid");
}
std::string emit_tanh(Exporter& ex, LayerArgs& args, const At& at) {
  args.expect_none();
  return emit_unary(ex, at, "Tanh", "tanh");
}
std::string emit_flatten(Exporter& ex, LayerArgs& args, const At& at) {
  args.expect_none();
  const std::string y = ex.tensor(at.prefix, "flatten");
  set_int(add_node(ex.graph(), "Flatten", {at.x}, {y}, y), "axis", 1);
  return y;
}
// Dropout is the identity in inference: no node.
std::string emit_dropout(Exporter& /*ex*/, LayerArgs& /*args*/, const At& at) {
  return at.x;
}

// BatchNorm's inference form: (x - mean) / sqrt(var + eps) * gamma + beta.
struct BatchNormValues {
  std::vector<float> gamma, beta, mean, var;
  double eps = 1e-5;
};

BatchNormValues batchnorm_values(const Exporter& ex, LayerArgs& args, const std::string& prefix) {
  args.bind({{"momentum", false}, {"eps", false}}, {"sync"});
  return {ex.param(prefix + "gamma"), ex.param(prefix + "beta"),
          ex.param(prefix + "running_mean", true), ex.param(prefix + "running_var", true),
          args.number("eps", 1e-5)};
}

std::string emit_batchnorm(Exporter& ex, LayerArgs& args, const At& at) {
  const BatchNormValues v = batchnorm_values(ex, args, at.prefix);
  const int64_t c = at.in[0];
  const std::string y = ex.tensor(at.prefix, "batchnorm");
  onnx::NodeProto& n = add_node(ex.graph(), "BatchNormalization",
                                {at.x, ex.constant(at.prefix + "gamma", {c}, v.gamma),
                                 ex.constant(at.prefix + "beta", {c}, v.beta),
                                 ex.constant(at.prefix + "running_mean", {c}, v.mean),
                                 ex.constant(at.prefix + "running_var", {c}, v.var)},
                                {y}, y);
  set_float(n, "epsilon", static_cast<float>(v.eps));
  return y;
}

std::string emit_pool(Exporter& ex, LayerArgs& args, const At& at, bool max) {
  args.bind({{"kernel"}, {"stride"}, {"padding"}});
  const int64_t k = args.integer("kernel");
  const std::string y = ex.tensor(at.prefix, max ? "maxpool2d" : "avgpool2d");
  onnx::NodeProto& n = add_node(ex.graph(), max ? "MaxPool" : "AveragePool", {at.x}, {y}, y);
  set_window(n, k, args.integer("stride", k), args.integer("padding", 0));
  if (!max) set_int(n, "count_include_pad", 1);  // lockstep counts padding as zeros
  return y;
}
std::string emit_maxpool2d(Exporter& ex, LayerArgs& args, const At& at) {
  return emit_pool(ex, args, at, true);
}
std::string emit_avgpool2d(Exporter& ex, LayerArgs& args, const At& at) {
  return emit_pool(ex, args, at, false);
}

std::string emit_global_avg_pool(Exporter& ex, LayerArgs& args, const At& at) {
  args.expect_none();
  const std::string pooled = ex.tensor(at.prefix, "gap");
  add_node(ex.graph(), "GlobalAveragePool", {at.x}, {pooled}, pooled);  // (N, C, 1, 1)
  const std::string y = ex.tensor(at.prefix, "gap_flat");
  set_int(add_node(ex.graph(), "Flatten", {pooled}, {y}, y), "axis", 1);  // (N, C)
  return y;
}

std::string emit_sequence(Exporter& ex, const std::vector<std::string>& tokens,
                          const std::string& prefix, std::string x, Shape shape);

std::string emit_residual(Exporter& ex, LayerArgs& args, const At& at) {
  const std::string h = emit_sequence(ex, args.raw(), at.prefix, at.x, at.in);
  const std::string y = ex.tensor(at.prefix, "residual");
  add_node(ex.graph(), "Add", {at.x, h}, {y}, y);
  return y;
}

// upsample(s[, mode]): Resize by scales (1, 1, s, s). Nearest: asymmetric
// coordinates, floor (y[i] = x[floor(i / s)], lockstep's and PyTorch's
// nearest); bilinear: linear with half_pixel coordinates (PyTorch's
// align_corners=False; the edges clamp in both).
std::string emit_upsample(Exporter& ex, LayerArgs& args, const At& at) {
  args.bind({{"scale"}, {"mode", false}});
  const auto s = static_cast<float>(args.integer("scale"));
  const bool bilinear = args.text("mode", "nearest") == "bilinear";
  const std::string scales = ex.constant(at.prefix + "scales", {4}, {1.0f, 1.0f, s, s});
  const std::string y = ex.tensor(at.prefix, "upsample");
  onnx::NodeProto& n = add_node(ex.graph(), "Resize", {at.x, "", scales}, {y}, y);
  set_string(n, "mode", bilinear ? "linear" : "nearest");
  set_string(n, "coordinate_transformation_mode", bilinear ? "half_pixel" : "asymmetric");
  if (!bilinear) set_string(n, "nearest_mode", "floor");
  return y;
}

// conv_transpose2d: ConvTranspose, W (C, O, k, k) as lockstep (and PyTorch) keep it.
std::string emit_conv_transpose2d(Exporter& ex, LayerArgs& args, const At& at) {
  args.bind({{"out_channels"}, {"kernel"}, {"stride"}, {"padding"}, {"output_padding"}},
            {"bias", "nobias"});
  const int64_t out = args.integer("out_channels"), k = args.integer("kernel");
  const int64_t q = args.integer("output_padding", 0);
  std::vector<std::string> inputs{
      at.x, ex.constant(at.prefix + "weight", {at.in[0], out, k, k}, ex.param(at.prefix + "weight"))};
  if (ex.has_param(at.prefix + "bias"))
    inputs.push_back(ex.constant(at.prefix + "bias", {out}, ex.param(at.prefix + "bias")));
  const std::string y = ex.tensor(at.prefix, "conv_transpose2d");
  onnx::NodeProto& n = add_node(ex.graph(), "ConvTranspose", inputs, {y}, y);
  set_window(n, k, args.integer("stride", 2), args.integer("padding", 0));
  if (q) set_ints(n, "output_padding", {q, q});
  return y;
}

// concat(@name) / add(@name): the current tensor with a named earlier output.
std::string emit_merge(Exporter& ex, LayerArgs& args, const At& at, bool concat) {
  LOCKSTEP_CHECK(args.raw().size() == 1 && args.raw()[0].size() > 1 && args.raw()[0][0] == '@',
                 "expected one named output as argument");
  const std::string& other = ex.named_output(args.raw()[0].substr(1)).value;
  const std::string y = ex.tensor(at.prefix, concat ? "concat" : "add");
  onnx::NodeProto& n = add_node(ex.graph(), concat ? "Concat" : "Add", {at.x, other}, {y}, y);
  if (concat) set_int(n, "axis", 1);
  return y;
}
std::string emit_concat(Exporter& ex, LayerArgs& args, const At& at) {
  return emit_merge(ex, args, at, true);
}
std::string emit_add(Exporter& ex, LayerArgs& args, const At& at) {
  return emit_merge(ex, args, at, false);
}

struct ExportKind {
  std::vector<std::string> names;  // as in core/layers/registry.cpp
  Emit emit;
  bool takes_fold = false;  // a BatchNorm right after it can be folded in
};

const std::vector<ExportKind>& kinds() {
  static const std::vector<ExportKind> table{
      {{"dense", "linear"}, emit_dense, true},
      {{"relu"}, emit_relu},
      {{"sigmoid"}, emit_sigmoid},
      {{"tanh"}, emit_tanh},
      {{"dropout"}, emit_dropout},
      {{"flatten"}, emit_flatten},
      {{"batchnorm", "bn"}, emit_batchnorm},
      {{"residual"}, emit_residual},
      {{"conv2d"}, emit_conv2d, true},
      {{"maxpool2d"}, emit_maxpool2d},
      {{"avgpool2d"}, emit_avgpool2d},
      {{"global_avg_pool", "gap"}, emit_global_avg_pool},
      {{"upsample"}, emit_upsample},
      {{"conv_transpose2d"}, emit_conv_transpose2d},
      {{"concat"}, emit_concat},
      {{"add"}, emit_add},
  };
  return table;
}

const ExportKind& kind_of(const std::string& token) {
  const LayerArgs args(token);
  for (const ExportKind& k : kinds())
    for (const std::string& n : k.names)
      if (n == args.name()) return k;
  LOCKSTEP_FAIL("ONNX export: layer '" << token
                                       << "' has no ONNX form yet (io/onnx_export.cpp: kinds())");
}

bool is_batchnorm(const std::string& token) {
  const std::string name = LayerArgs(token).name();
  return name == "batchnorm" || name == "bn";
}

// "conv2d(16, 3) @enc1" -> ("conv2d(16, 3)", "enc1"); only an '@' outside
// parentheses names an output (core/model.cpp).
std::pair<std::string, std::string> split_name(const std::string& written) {
  int depth = 0;
  for (size_t i = 0; i < written.size(); ++i) {
    depth += written[i] == '(' ? 1 : written[i] == ')' ? -1 : 0;
    if (written[i] != '@' || depth != 0) continue;
    std::string layer = written.substr(0, i), name = written.substr(i + 1);
    while (!layer.empty() && std::isspace(static_cast<unsigned char>(layer.back())))
      layer.pop_back();
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.front())))
      name.erase(0, 1);
    return {layer, name};
  }
  return {written, ""};
}

std::string emit_sequence(Exporter& ex, const std::vector<std::string>& written,
                          const std::string& prefix, std::string x, Shape shape) {
  std::vector<std::string> tokens, names;
  for (const std::string& w : written) {
    auto [token, name] = split_name(w);
    tokens.push_back(std::move(token));
    names.push_back(std::move(name));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string at_prefix = prefix + std::to_string(i) + ".";
    const ExportKind& kind = kind_of(tokens[i]);
    const std::unique_ptr<Layer> layer = make_layer(tokens[i]);
    if (auto* merge = dynamic_cast<Merge*>(layer.get()))
      merge->set_source_shape(ex.named_output(merge->source()).shape);
    const Shape out = layer->output_shape(shape);
    Affine fold;
    // Not when this layer's own output is named: that value is before the BatchNorm.
    const bool folding = ex.fold() && kind.takes_fold && names[i].empty() &&
                         i + 1 < tokens.size() && is_batchnorm(tokens[i + 1]);
    if (folding) {
      LayerArgs bn_args(tokens[i + 1]);
      const BatchNormValues v = batchnorm_values(ex, bn_args, prefix + std::to_string(i + 1) + ".");
      for (size_t c = 0; c < v.gamma.size(); ++c) {
        const double s = v.gamma[c] / std::sqrt(static_cast<double>(v.var[c]) + v.eps);
        fold.scale.push_back(static_cast<float>(s));
        fold.shift.push_back(static_cast<float>(v.beta[c] - v.mean[c] * s));
      }
    }
    LayerArgs args(tokens[i]);
    try {
      x = kind.emit(ex, args, At{at_prefix, x, shape, folding ? &fold : nullptr});
    } catch (const Error& e) {
      throw Error("ONNX export: layer " + prefix + std::to_string(i) + " '" + written[i] +
                  "': " + e.what());
    }
    shape = out;
    if (folding) {
      ++i;  // the BatchNorm is in the weights now
      ++ex.folded;
    }
    if (!names[i].empty()) ex.named[names[i]] = {x, shape};
  }
  return x;
}

void add_metadata(onnx::ModelProto& m, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* e = m.add_metadata_props();
  e->set_key(key);
  e->set_value(value);
}

// A JSON array of strings: ["T-shirt/top", "Trouser", ...].
std::string json_strings(const std::vector<std::string>& v) {
  return nlohmann::json(v).dump();
}

}  // namespace

bool onnx_supported() {
  return true;
}

void require_onnx(const std::string& /*what*/) {}

OnnxExportSummary export_onnx(const Model& model, const OnnxExportOptions& options,
                              const std::string& path) {
  onnx::ModelProto m;
  m.set_ir_version(onnx::IR_VERSION);
  m.set_producer_name("lockstep");
  m.set_producer_version(options.producer_version);
  onnx::OperatorSetIdProto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("lockstep");
  const Shape& in = model.input_shape();
  onnx_util::add_value(*g.mutable_input(), "input", in);

  Exporter ex(model, g, options.fold_batchnorm);
  std::string x = "input";
  if (!options.norm_scale.empty()) {
    const auto channels = static_cast<int64_t>(options.norm_scale.size());
    LOCKSTEP_CHECK(channels == in[0] && options.norm_shift.size() == options.norm_scale.size(),
                   "ONNX export: expected one normalisation scale and shift per channel ("
                       << in[0] << "), got " << options.norm_scale.size() << " and "
                       << options.norm_shift.size());
    Shape per_channel(in.size(), 1);  // (C, 1, ...): broadcasts over (N, C, ...)
    per_channel[0] = channels;
    add_node(g, "Mul", {x, ex.constant("norm.scale", per_channel, options.norm_scale)},
             {"norm.scaled"}, "norm.scaled");
    add_node(g, "Add", {"norm.scaled", ex.constant("norm.shift", per_channel, options.norm_shift)},
             {"normalised"}, "normalised");
    x = "normalised";
  }
  x = emit_sequence(ex, split_layer_spec(model.spec()), "", x, in);
  // The last node's output becomes "logits" (an Identity when no node made it).
  const Shape& out = model.output_shape();
  if (g.node_size() > 0 && g.node(g.node_size() - 1).output(0) == x) {
    g.mutable_node(g.node_size() - 1)->set_output(0, "logits");
  } else {
    add_node(g, "Identity", {x}, {"logits"}, "logits");
  }
  onnx_util::add_value(*g.mutable_output(), "logits", out);
  if (options.classifier) {
    std::string z = "logits";
    if (out.size() != 1) {  // like predict: a softmax over all the outputs of a row
      set_int(add_node(g, "Flatten", {z}, {"logits_flat"}, "logits_flat"), "axis", 1);
      z = "logits_flat";
    }
    set_int(add_node(g, "Softmax", {z}, {"probabilities"}, "probabilities"), "axis", 1);
    onnx_util::add_value(*g.mutable_output(), "probabilities", {shape_numel(out)});
  }
  add_metadata(m, "lockstep.layers", model.spec());
  add_metadata(m, "lockstep.input_shape", shape_str(in));
  if (!options.loss.empty()) add_metadata(m, "lockstep.loss", options.loss);
  add_metadata(m, "lockstep.normalisation", options.normalisation_note);
  if (!options.class_names.empty())
    add_metadata(m, "class_names", json_strings(options.class_names));

  onnx_util::check(m, "ONNX export to '" + path + "'");
  std::string bytes;
  LOCKSTEP_CHECK(m.SerializeToString(&bytes),
                 "ONNX export to '" << path << "': the model cannot be serialised (over 2 GiB?)");
  onnx_util::write_file_atomically(path, bytes);
  return {g.node_size(), g.initializer_size(), ex.folded};
}

}  // namespace lockstep::io
