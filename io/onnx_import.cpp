// ONNX import (onnx.hpp): the graph's nodes, in their (topological) order,
// become a chain of lockstep layers. Every node but Add and Concat must read
// the output of the node before it; an Add or Concat reads that output and a
// tensor made earlier in the chain. An Add over plain layers turns them into a
// residual block; otherwise (and for every Concat) the earlier tensor's layer
// gets a name and the merge is add(@name) / concat(@name). Weights come from
// initializers (or Constant nodes); a final Softmax is dropped.

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/onnx.hpp"
#include "io/onnx_importer.hpp"
#include "io/onnx_util.hpp"

namespace lockstep::io {
namespace onnx_import {

OnnxImport Importer::run(const Shape& wanted_shape) {
  const Shape shape = input_shape(wanted_shape);
  walk();
  return build(shape);
}

// The graph's per-sample input shape, checked against (and completed by) the data's.
Shape Importer::input_shape(const Shape& wanted_shape) {
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
    LOCKSTEP_CHECK(fits, where << ": the graph input '" << input->name()
                               << "' takes samples of shape " << shape_str(shape)
                               << " (-1: any), the data has samples of shape "
                               << shape_str(wanted_shape));
    shape = wanted_shape;
  }
  for (int64_t d : shape)
    LOCKSTEP_CHECK(d > 0,
                   where << ": input '" << input->name() << "' has the sample shape "
                         << shape_str(shape)
                         << " with symbolic dimensions; give the data's (--input-shape or --data)");

  cur_ = input->name();
  position_[cur_] = 0;
  return shape;
}

// The nodes, in order, to the chain of layers.
void Importer::walk() {
  const onnx::GraphProto& g = m_.graph();
  const std::string where = "ONNX import of '" + path_ + "'";
  for (int i = 0; i < g.node_size(); ++i)
    for (const std::string& t : g.node(i).input()) uses_[t].push_back(i);
  for (const auto& o : g.output()) uses_[o.name()].push_back(g.node_size());
  for (int i = 0; i < g.node_size(); ++i) {
    node_ = i;
    const onnx::NodeProto& n = g.node(i);
    const std::string& op = n.op_type();
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      fail(n,
           "expected an operator of the standard ONNX domain, found domain '" + n.domain() + "'");
    if (softmax_) fail(n, "expected Softmax to be the last node");
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
    if (op == "Concat") {
      merge(n, true);
      continue;
    }
    if (op == "Upsample")
      fail(n, "the operator is deprecated since opset 10; expected Resize (export at opset >= 11)");
    expect_chain_input(n);
    if (after_gap_ && op != "Flatten" && op != "Identity")
      fail(n,
           "expected Flatten after GlobalAveragePool (lockstep's global_avg_pool outputs (N, C))");
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
    } else if (op == "ConvTranspose") {
      conv_transpose(n);
    } else if (op == "Resize") {
      resize(n);
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
      if (attr_int(n, "axis", 1) != 1)
        fail(n, "expected axis = 1, found " + std::to_string(attr_int(n, "axis", 1)));
      // After GlobalAveragePool, or just before the final Softmax (an export of a
      // classifier with image outputs: its softmax over a whole row): no layer.
      const auto& readers = uses_[n.output(0)];
      const bool to_softmax = readers.size() == 1 && readers[0] < g.node_size() &&
                              g.node(readers[0]).op_type() == "Softmax";
      if (after_gap_ || to_softmax)
        alias(n.output(0));
      else
        push({"flatten", {}, {}}, n.output(0));
    } else if (op == "Identity" || op == "Dropout") {
      alias(n.output(0));
      continue;  // keeps after_gap_
    } else if (op == "Softmax") {
      softmax_ = true;
      alias(n.output(0));
    } else {
      fail(n,
           "unsupported operator; lockstep imports Gemm, MatMul(+Add), Conv, BatchNormalization, "
           "ConvTranspose, Relu, Sigmoid, Tanh, MaxPool, AveragePool, GlobalAveragePool, "
           "Resize, Flatten, Add, Concat, Pad, Identity, Dropout and a final Softmax");
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
}

// The model of the chain, with the weights of the graph.
OnnxImport Importer::build(const Shape& shape) {
  const onnx::GraphProto& g = m_.graph();
  const std::string where = "ONNX import of '" + path_ + "'";
  std::string spec;
  for (const Item& item : chain_)
    spec += (spec.empty() ? "" : ", ") + item.token + (item.name.empty() ? "" : " @" + item.name);
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
  result.had_softmax = softmax_;
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

}  // namespace onnx_import

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
  return onnx_import::Importer(m, path).run(input_shape);
}

}  // namespace lockstep::io
