#pragma once
// Internal to io/onnx_import*.cpp: the importer's state. The nodes of a graph
// become `chain_`, one Item per lockstep layer; onnx_import.cpp walks the
// graph and builds the model, onnx_import_ops.cpp maps each operator. A
// tensor that a later Concat or Add takes besides the current one gives the
// layer that made it a name (" @skip1"), and the merge is concat(@skip1) or
// add(@skip1); an Add whose skip spans plain layers only stays a residual block.

#include <onnx/onnx_pb.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "io/onnx.hpp"

namespace lockstep::io::onnx_import {

using Values = std::vector<std::pair<std::string, std::vector<float>>>;  // local name, values

// One lockstep layer made from one or more nodes.
struct Item {
  std::string token;
  Values params, buffers;
  std::string name = {};  // the output's name when a later merge takes it ("skip1")
};

inline const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
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
  Shape input_shape(const Shape& wanted_shape);
  void walk();
  OnnxImport build(const Shape& shape);

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
    std::vector<int64_t> out;
    if (const auto* a = find_attr(n, name))
      for (int i = 0; i < a->ints_size(); ++i) out.push_back(a->ints(i));
    return out;
  }
  // All entries of `v` equal (or `v` empty: `fallback`), else an error naming `what`.
  int64_t same(const onnx::NodeProto& n, const std::vector<int64_t>& v, int64_t fallback,
               const char* what) const {
    if (v.empty()) return fallback;
    for (int64_t x : v)
      if (x != v[0]) fail(n, std::string("expected the same ") + what + " along every axis");
    return v[0];
  }
  std::vector<float> constant(const onnx::NodeProto& n, int input,
                              std::vector<int64_t>* dims = nullptr) const;
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
  void resize(const onnx::NodeProto& n);
  void conv_transpose(const onnx::NodeProto& n);
  // Concat (axis 1, the current tensor first) or Add of the current tensor and
  // an earlier one: concat(@name) / add(@name), naming the earlier one's layer.
  void merge(const onnx::NodeProto& n, bool concat);
  std::string attr_text(const onnx::NodeProto& n, const std::string& name,
                        const std::string& fallback) const {
    const auto* a = find_attr(n, name);
    return a ? a->s() : fallback;
  }

  const onnx::ModelProto& m_;
  std::string path_;
  std::map<std::string, const onnx::TensorProto*> constants_;
  std::vector<Item> chain_;
  std::map<std::string, size_t> position_;  // tensor -> items before it in the chain
  std::map<std::string, std::vector<int>> uses_;  // tensor -> the nodes that read it (in order)
  int node_ = 0;                                  // the node being mapped
  int names_made_ = 0;                            // skip1, skip2, ...
  std::string cur_;
  bool after_gap_ = false;  // GlobalAveragePool's (N, C, 1, 1): the next Flatten is absorbed
  bool softmax_ = false;    // a final Softmax was seen (no node may follow)
  int64_t pad_ = 0;         // a zero Pad's spatial padding, for the Conv / AveragePool after it
};

}  // namespace lockstep::io::onnx_import
