// ONNX import (onnx.hpp): the graph's nodes, in their (topological) order,
// become a chain of lockstep layers. Every node but Add must read the output
// of the node before it; an Add reads that output and a tensor made earlier in
// the chain, and turns the layers between them into a residual block. Weights
// come from initializers (or Constant nodes); a final Softmax is dropped.

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/onnx.hpp"
#include "io/onnx_util.hpp"

namespace lockstep::io {
namespace {

using Values = std::vector<std::pair<std::string, std::vector<float>>>;  // local name, values

// One lockstep layer made from one or more nodes.
struct Item {
  std::string token;
  Values params, buffers;
};

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

class Importer {
 public:
  Importer(const onnx::ModelProto& m, const std::string& path) : m_(m), path_(path) {
    for (const auto& t : m.graph().initializer()) constants_[t.name()] = &t;
  }

  OnnxImport run(const Shape& wanted_shape);

 private:
  // "ONNX import of 'f.onnx': node 'conv1' (Conv): " + what
  [[noreturn]] void fail(const onnx::NodeProto& n, const std::string& what) const {
    LOCKSTEP_FAIL("ONNX import of '" << path_ << "': node '" << n.name() << "' (" << n.op_type()
                                     << "): " << what);
  }
  int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t fallback) const {
    const auto* a = find_attr(n, name);
    return a ? a->i() : fallback;
  }
  float attr_float(const onnx::NodeProto& n, const std::string& name, float fallback) const {
    const auto* a = find_attr(n, name);
    return a ? a->f() : fallback;
  }
  std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name) const {
    const auto* a = find_attr(n, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
  }
  // All entries of `v` equal (or `v` empty: `fallback`), else an error naming `what`.
  int64_t same(const onnx::NodeProto& n, const std::vector<int64_t>& v, int64_t fallback,
               const char* what) const {
    if (v.empty()) return fallback;
    for (int64_t x : v)
      if (x != v[0]) fail(n, std::string("expected the same ") + what + " along every axis");
    return v[0];
  }
  std::vector<float> constant(const onnx::NodeProto& n, int input, std::vector<int64_t>* dims = nullptr) const;
  void expect_chain_input(const onnx::NodeProto& n) const {
    if (n.input_size() == 0 || n.input(0) != cur_)
      fail(n, "reads '" + (n.input_size() ? n.input(0) : std::string()) +
                  "', expected the output of the layer before it, '" + cur_ +
                  "' (lockstep models are a chain of layers with residual blocks)");
  }
  void push(Item item, const std::string& out) {
    chain_.push_back(std::move(item));
    cur_ = out;
    position_[out] = chain_.size();
  }
  void alias(const std::string& out) { position_[out] = position_.at(cur_), cur_ = out; }

  void dense(const onnx::NodeProto& n, const onnx::NodeProto* add);
  void conv(const onnx::NodeProto& n);
  void batchnorm(const onnx::NodeProto& n);
  void pool(const onnx::NodeProto& n, bool max);
  void residual(const onnx::NodeProto& n);
  void pad(const onnx::NodeProto& n);

  const onnx::ModelProto& m_;
  std::string path_;
  std::map<std::string, const onnx::TensorProto*> constants_;
  std::vector<Item> chain_;
  std::map<std::string, size_t> position_;  // tensor -> items before it in the chain
  std::string cur_;
  bool after_gap_ = false;  // GlobalAveragePool's (N, C, 1, 1): the next Flatten is absorbed
  int64_t pad_ = 0;         // a zero Pad's spatial padding, for the Conv / AveragePool after it
};

std::vector<float> Importer::constant(const onnx::NodeProto& n, int input,
                                      std::vector<int64_t>* dims) const {
  if (input >= n.input_size() || n.input(input).empty())
    fail(n, "expected input " + std::to_string(input) + " (a weight), found none");
  const auto it = constants_.find(n.input(input));
  if (it == constants_.end())
    fail(n, "expected input '" + n.input(input) +
                "' to be a constant (an initializer), found a computed tensor");
  const onnx::TensorProto& t = *it->second;
  if (t.data_type() != onnx::TensorProto::FLOAT)
    fail(n, "weight '" + t.name() + "': expected float32, found ONNX data type " +
                std::to_string(t.data_type()));
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    fail(n, "weight '" + t.name() + "' is stored in an external file; expected it inside the model");
  int64_t count = 1;
  for (int64_t d : t.dims()) count *= d;
  std::vector<float> v(static_cast<size_t>(count));
  if (!t.raw_data().empty()) {
    if (t.raw_data().size() != v.size() * sizeof(float))
      fail(n, "weight '" + t.name() + "': expected " + std::to_string(v.size() * sizeof(float)) +
                  " bytes, found " + std::to_string(t.raw_data().size()));
    std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  } else {
    if (t.float_data_size() != count)
      fail(n, "weight '" + t.name() + "': expected " + std::to_string(count) + " values, found " +
                  std::to_string(t.float_data_size()));
    std::copy(t.float_data().begin(), t.float_data().end(), v.begin());
  }
  if (dims) dims->assign(t.dims().begin(), t.dims().end());
  return v;
}

// Gemm (x W^T or x W, + b) or MatMul (+ the Add `add` of a bias) -> dense.
void Importer::dense(const onnx::NodeProto& n, const onnx::NodeProto* add) {
  std::vector<int64_t> wd;
  std::vector<float> w = constant(n, 1, &wd);
  if (wd.size() != 2) fail(n, "expected a 2-D weight, found " + std::to_string(wd.size()) + "-D");
  const bool gemm = n.op_type() == "Gemm";
  if (gemm && attr_int(n, "transA", 0) != 0) fail(n, "expected transA = 0, found 1");
  const bool trans_b = gemm && attr_int(n, "transB", 0) != 0;
  const int64_t out = trans_b ? wd[0] : wd[1], in = trans_b ? wd[1] : wd[0];
  std::vector<float> weight(w.size());  // lockstep's (out, in)
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      weight[o * in + i] = trans_b ? w[o * in + i] : w[i * out + o];
  const float alpha = gemm ? attr_float(n, "alpha", 1.0f) : 1.0f;
  if (alpha != 1.0f)
    for (float& x : weight) x *= alpha;
  std::vector<float> bias;
  if (gemm && n.input_size() > 2 && !n.input(2).empty()) {
    bias = constant(n, 2);
    const float beta = attr_float(n, "beta", 1.0f);
    for (float& x : bias) x *= beta;
  } else if (add) {
    bias = constant(*add, add->input(0) == n.output(0) ? 1 : 0);
  }
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != out)
    fail(add && !gemm ? *add : n, "expected a bias of " + std::to_string(out) +
                                      " values (one per output), found " + std::to_string(bias.size()));
  Item item{"dense(" + std::to_string(out) + (bias.empty() ? ", nobias)" : ")"), {}, {}};
  item.params.emplace_back("weight", std::move(weight));
  if (!bias.empty()) item.params.emplace_back("bias", std::move(bias));
  push(std::move(item), add ? add->output(0) : n.output(0));
}

void Importer::conv(const onnx::NodeProto& n) {
  std::vector<int64_t> wd;
  std::vector<float> w = constant(n, 1, &wd);
  if (wd.size() != 4 || wd[2] != wd[3])
    fail(n, "expected a square 2-D kernel (O, C, k, k), found " + shape_str(wd));
  if (attr_int(n, "group", 1) != 1) fail(n, "expected group = 1 (grouped convolutions are not supported)");
  if (same(n, attr_ints(n, "dilations"), 1, "dilation") != 1) fail(n, "expected dilations of 1");
  const auto* auto_pad = find_attr(n, "auto_pad");
  if (auto_pad && auto_pad->s() != "NOTSET" && auto_pad->s() != "VALID")
    fail(n, "expected explicit pads, found auto_pad = " + auto_pad->s());
  const int64_t stride = same(n, attr_ints(n, "strides"), 1, "stride");
  const int64_t pad = same(n, attr_ints(n, "pads"), 0, "padding") + pad_;
  if (pad_ && pad != pad_) fail(n, "expected no pads of its own after a Pad node");
  std::vector<float> bias;
  if (n.input_size() > 2 && !n.input(2).empty()) bias = constant(n, 2);
  Item item{"conv2d(" + std::to_string(wd[0]) + ", " + std::to_string(wd[2]) +
                (stride != 1 ? ", stride=" + std::to_string(stride) : "") +
                (pad != 0 ? ", padding=" + std::to_string(pad) : "") + (bias.empty() ? ", nobias)" : ")"),
            {}, {}};
  item.params.emplace_back("weight", std::move(w));
  if (!bias.empty()) item.params.emplace_back("bias", std::move(bias));
  push(std::move(item), n.output(0));
}

// The shortest text of a float eps that reads back as the same float.
std::string eps_text(float eps) {
  char buf[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(eps));
    if (std::strtof(buf, nullptr) == eps) break;
  }
  return buf;
}

void Importer::batchnorm(const onnx::NodeProto& n) {
  if (attr_int(n, "training_mode", 0) != 0 || n.output_size() > 1)
    fail(n, "expected the inference form (training_mode = 0, one output)");
  const float eps = attr_float(n, "epsilon", 1e-5f);
  Item item{std::strtof("1e-05", nullptr) == eps ? "batchnorm" : "batchnorm(eps=" + eps_text(eps) + ")",
            {}, {}};
  item.params.emplace_back("gamma", constant(n, 1));
  item.params.emplace_back("beta", constant(n, 2));
  item.buffers.emplace_back("running_mean", constant(n, 3));
  item.buffers.emplace_back("running_var", constant(n, 4));
  push(std::move(item), n.output(0));
}

void Importer::pool(const onnx::NodeProto& n, bool max) {
  const int64_t k = same(n, attr_ints(n, "kernel_shape"), 0, "kernel size");
  if (k < 1 || attr_ints(n, "kernel_shape").size() != 2) fail(n, "expected a 2-D kernel_shape");
  const int64_t stride = same(n, attr_ints(n, "strides"), 1, "stride");
  const int64_t pad = same(n, attr_ints(n, "pads"), 0, "padding") + pad_;
  if (pad_ && (max || pad != pad_)) fail(n, "expected no pads of its own (and average pooling) after a Pad node");
  if (attr_int(n, "ceil_mode", 0) != 0) fail(n, "expected ceil_mode = 0, found 1");
  if (same(n, attr_ints(n, "dilations"), 1, "dilation") != 1) fail(n, "expected dilations of 1");
  if (!max && pad > pad_ && attr_int(n, "count_include_pad", 0) != 1)
    fail(n, "expected count_include_pad = 1 with padding (lockstep averages padding as zeros)");
  const auto* auto_pad = find_attr(n, "auto_pad");
  if (auto_pad && auto_pad->s() != "NOTSET" && auto_pad->s() != "VALID")
    fail(n, "expected explicit pads, found auto_pad = " + auto_pad->s());
  push({std::string(max ? "maxpool2d(" : "avgpool2d(") + std::to_string(k) +
            ", stride=" + std::to_string(stride) + (pad ? ", padding=" + std::to_string(pad) : "") + ")",
        {}, {}},
       n.output(0));
}

// Pad with zeros, the same on every side of H and W (N and C: none): kept in
// pad_ for the Conv or AveragePool after it; all-zero pads are skipped.
void Importer::pad(const onnx::NodeProto& n) {
  const auto* mode = find_attr(n, "mode");
  if (mode && mode->s() != "constant") fail(n, "expected mode = constant, found " + mode->s());
  if (n.input_size() > 2 && !n.input(2).empty()) {
    const auto it = constants_.find(n.input(2));
    if (it == constants_.end() || it->second->raw_data().find_first_not_of('\0') != std::string::npos ||
        it->second->float_data_size() > 0)
      fail(n, "expected padding with zeros");
  }
  if (n.input_size() > 3 && !n.input(3).empty()) fail(n, "expected no axes input");
  const auto it = n.input_size() > 1 ? constants_.find(n.input(1)) : constants_.end();
  if (it == constants_.end() || it->second->data_type() != onnx::TensorProto::INT64)
    fail(n, "expected constant int64 pads");
  const onnx::TensorProto& t = *it->second;
  std::vector<int64_t> pads(t.int64_data().begin(), t.int64_data().end());
  if (!t.raw_data().empty()) {
    pads.resize(t.raw_data().size() / sizeof(int64_t));
    std::memcpy(pads.data(), t.raw_data().data(), pads.size() * sizeof(int64_t));
  }
  // (N, C, H, W) begins, then ends.
  if (pads.size() != 8 || pads[0] || pads[1] || pads[4] || pads[5] || pads[2] != pads[3] ||
      pads[2] != pads[6] || pads[2] != pads[7])
    fail(n, "expected the same padding on every side of H and W and none on N and C, found " +
                shape_str(pads));
  pad_ = pads[2];
  alias(n.output(0));
}

// Add(chain output, earlier tensor t): the layers since t become residual(...).
void Importer::residual(const onnx::NodeProto& n) {
  if (n.input_size() != 2) fail(n, "expected 2 inputs");
  const int mine = n.input(0) == cur_ ? 0 : n.input(1) == cur_ ? 1 : -1;
  if (mine < 0)
    fail(n, "expected one input to be the output of the layer before it, '" + cur_ + "', found '" +
                n.input(0) + "' and '" + n.input(1) + "'");
  const std::string& skip = n.input(1 - mine);
  const auto it = position_.find(skip);
  if (it == position_.end() || it->second >= chain_.size())
    fail(n, "expected the other input, '" + skip +
                "', to be a tensor made earlier in the chain (a residual block adds its input "
                "to its output)");
  const size_t first = it->second;
  Item block{"residual(", {}, {}};
  for (size_t j = first; j < chain_.size(); ++j) {
    const std::string p = std::to_string(j - first) + ".";
    block.token += (j > first ? ", " : "") + chain_[j].token;
    for (auto& [name, v] : chain_[j].params) block.params.emplace_back(p + name, std::move(v));
    for (auto& [name, v] : chain_[j].buffers) block.buffers.emplace_back(p + name, std::move(v));
  }
  block.token += ")";
  chain_.resize(first);
  for (auto i = position_.begin(); i != position_.end();)  // tensors inside the block: gone
    i = i->second > first ? position_.erase(i) : std::next(i);
  push(std::move(block), n.output(0));
}

OnnxImport Importer::run(const Shape& wanted_shape) {
  const onnx::GraphProto& g = m_.graph();
  const std::string where = "ONNX import of '" + path_ + "'";
  // The graph's data input: the one input that is not an initializer.
  const onnx::ValueInfoProto* input = nullptr;
  for (const auto& v : g.input()) {
    if (constants_.count(v.name())) continue;
    LOCKSTEP_CHECK(!input, where << ": expected one data input, found '" << input->name()
                                 << "' and '" << v.name() << "'");
    input = &v;
  }
  LOCKSTEP_CHECK(input, where << ": expected a data input, found none");
  LOCKSTEP_CHECK(g.output_size() >= 1, where << ": expected a graph output, found none");
  const auto& type = input->type().tensor_type();
  LOCKSTEP_CHECK(type.elem_type() == onnx::TensorProto::FLOAT,
                 where << ": input '" << input->name()
                       << "': expected float32, found ONNX data type " << type.elem_type());
  Shape shape;  // per sample; -1 where the graph leaves a dimension symbolic
  for (int d = 1; d < type.shape().dim_size(); ++d)
    shape.push_back(type.shape().dim(d).has_dim_value() ? type.shape().dim(d).dim_value() : -1);
  LOCKSTEP_CHECK(type.has_shape() && type.shape().dim_size() >= 2,
                 where << ": input '" << input->name()
                       << "': expected a shape (N, ...) with a batch dimension first");
  if (!wanted_shape.empty()) {
    bool fits = wanted_shape.size() == shape.size();
    for (size_t i = 0; fits && i < shape.size(); ++i)
      fits = shape[i] < 0 || shape[i] == wanted_shape[i];
    LOCKSTEP_CHECK(fits, where << ": the graph input '" << input->name() << "' takes samples of shape "
                               << shape_str(shape) << " (-1: any), the data has samples of shape "
                               << shape_str(wanted_shape));
    shape = wanted_shape;
  }
  for (int64_t d : shape)
    LOCKSTEP_CHECK(d > 0, where << ": input '" << input->name() << "' has the sample shape "
                                << shape_str(shape)
                                << " with symbolic dimensions; give the data's (--input-shape or --data)");

  cur_ = input->name();
  position_[cur_] = 0;
  bool softmax = false;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    const std::string& op = n.op_type();
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      fail(n, "expected an operator of the standard ONNX domain, found domain '" + n.domain() + "'");
    if (softmax) fail(n, "expected Softmax to be the last node");
    if (op == "Constant") {  // a weight given as a node: treated like an initializer
      const auto* value = find_attr(n, "value");
      if (!value || !value->has_t()) fail(n, "expected a tensor 'value' attribute");
      constants_[n.output(0)] = &value->t();
      continue;
    }
    if (pad_ && op != "Conv" && op != "AveragePool")
      fail(n, "expected Conv or AveragePool after a Pad node (lockstep pads inside those layers)");
    if (op == "Add") {
      if (!after_gap_ && (constants_.count(n.input(0)) || constants_.count(n.input(1))))
        fail(n, "adds a constant to '" + cur_ + "'; expected a bias only right after a MatMul");
      residual(n);
      continue;
    }
    if (op == "Concat" || op == "Resize" || op == "Upsample" || op == "ConvTranspose")
      fail(n, "not supported yet by lockstep's layers (upsampling, transposed convolution and "
              "concatenation are planned)");
    expect_chain_input(n);
    if (after_gap_ && op != "Flatten" && op != "Identity")
      fail(n, "expected Flatten after GlobalAveragePool (lockstep's global_avg_pool outputs (N, C))");
    if (op == "Pad") {
      pad(n);
      continue;
    }
    if (op == "Gemm") {
      dense(n, nullptr);
    } else if (op == "MatMul") {
      const onnx::NodeProto* add = nullptr;
      if (i + 1 < g.node_size() && g.node(i + 1).op_type() == "Add") {
        const onnx::NodeProto& next = g.node(i + 1);
        const int other = next.input(0) == n.output(0) ? 1 : next.input(1) == n.output(0) ? 0 : -1;
        if (other >= 0 && constants_.count(next.input(other))) add = &next, ++i;
      }
      dense(n, add);
    } else if (op == "Conv") {
      conv(n);
    } else if (op == "BatchNormalization") {
      batchnorm(n);
    } else if (op == "Relu" || op == "Sigmoid" || op == "Tanh") {
      push({op == "Relu" ? "relu" : op == "Sigmoid" ? "sigmoid" : "tanh", {}, {}}, n.output(0));
    } else if (op == "MaxPool" || op == "AveragePool") {
      if (n.output_size() > 1) fail(n, "expected one output (no indices)");
      pool(n, op == "MaxPool");
    } else if (op == "GlobalAveragePool") {
      push({"global_avg_pool", {}, {}}, n.output(0));
      after_gap_ = true;
      continue;
    } else if (op == "Flatten") {
      if (attr_int(n, "axis", 1) != 1) fail(n, "expected axis = 1, found " + std::to_string(attr_int(n, "axis", 1)));
      if (after_gap_) alias(n.output(0));
      else push({"flatten", {}, {}}, n.output(0));
    } else if (op == "Identity" || op == "Dropout") {
      alias(n.output(0));
      continue;  // keeps after_gap_
    } else if (op == "Softmax") {
      softmax = true;
      alias(n.output(0));
    } else {
      fail(n, "unsupported operator; lockstep imports Gemm, MatMul(+Add), Conv, BatchNormalization, "
              "Relu, Sigmoid, Tanh, MaxPool, AveragePool, GlobalAveragePool, Flatten, Add "
              "(residual), Identity, Dropout and a final Softmax");
    }
    after_gap_ = false;
    pad_ = 0;
  }
  LOCKSTEP_CHECK(!pad_, where << ": the graph ends with a Pad node");
  LOCKSTEP_CHECK(!chain_.empty(), where << ": expected at least one layer, the graph has none");
  for (const auto& o : g.output()) {  // the end of the chain (or its final Softmax)
    const auto it = position_.find(o.name());
    LOCKSTEP_CHECK(it != position_.end() && it->second == chain_.size(),
                   where << ": the graph output '" << o.name()
                         << "' is not the end of the chain of layers, '" << cur_ << "'");
  }

  std::string spec;
  for (const Item& item : chain_) spec += (spec.empty() ? "" : ", ") + item.token;
  OnnxImport result;
  try {
    result.model = std::make_unique<Model>(spec, shape);
  } catch (const Error& e) {
    LOCKSTEP_FAIL(where << ": the layers '" << spec << "' do not fit the input " << shape_str(shape)
                        << ": " << e.what());
  }
  // Values by their name in the model ("3.weight", "3.1.gamma").
  std::map<std::string, const std::vector<float>*> params, buffers;
  for (size_t i = 0; i < chain_.size(); ++i) {
    for (const auto& [name, v] : chain_[i].params) params[std::to_string(i) + "." + name] = &v;
    for (const auto& [name, v] : chain_[i].buffers) buffers[std::to_string(i) + "." + name] = &v;
  }
  const auto fill = [&](Tensor& slab, const std::vector<ParamInfo>& layout,
                        const std::map<std::string, const std::vector<float>*>& values) {
    Tensor host = Tensor::zeros(slab.shape(), DType::kF32);
    for (const ParamInfo& p : layout) {
      const auto it = values.find(p.name);
      LOCKSTEP_CHECK(it != values.end(), where << ": no weight for the model's " << p.name);
      LOCKSTEP_CHECK(static_cast<int64_t>(it->second->size()) == p.numel,
                     where << ": " << p.name << " " << shape_str(p.shape) << " needs " << p.numel
                           << " values, the graph's weight has " << it->second->size());
      std::copy(it->second->begin(), it->second->end(), host.data<float>() + p.offset);
    }
    slab.copy_from(host);
  };
  fill(result.model->params(), result.model->layout(), params);
  fill(result.model->buffers(), result.model->buffer_layout(), buffers);
  // A static output shape in the graph must be the model's.
  const auto& out_type = g.output(0).type().tensor_type();
  if (out_type.has_shape()) {
    Shape declared;
    bool known = true;
    for (int d = 1; d < out_type.shape().dim_size(); ++d) {
      known = known && out_type.shape().dim(d).has_dim_value();
      declared.push_back(out_type.shape().dim(d).dim_value());
    }
    LOCKSTEP_CHECK(!known || shape_numel(declared) == shape_numel(result.model->output_shape()),
                   where << ": the graph declares an output of " << shape_str(declared)
                         << " per sample, the layers '" << spec << "' give "
                         << shape_str(result.model->output_shape()));
  }
  result.had_softmax = softmax;
  result.nodes = g.node_size();
  for (const auto& e : m_.metadata_props()) {
    if (e.key() != "class_names") continue;
    const nlohmann::json names = nlohmann::json::parse(e.value(), nullptr, false);
    if (names.is_array())
      for (const auto& s : names)
        if (s.is_string()) result.class_names.push_back(s.get<std::string>());
  }
  return result;
}

}  // namespace

OnnxImport import_onnx(const std::string& path, const Shape& input_shape) {
  std::ifstream in(path, std::ios::binary);
  LOCKSTEP_CHECK(in, "ONNX import: cannot open '" << path << "': " << std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  onnx::ModelProto m;
  LOCKSTEP_CHECK(!bytes.str().empty() && m.ParseFromString(bytes.str()) && m.has_graph(),
                 "ONNX import: '" << path << "' is not a readable ONNX model (expected an ONNX "
                                  << "ModelProto; the file is truncated, damaged or of another "
                                  << "format; " << bytes.str().size() << " bytes)");
  onnx_util::check(m, "ONNX import of '" + path + "'");
  return Importer(m, path).run(input_shape);
}

}  // namespace lockstep::io
