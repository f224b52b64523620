// The operators of the ONNX import (onnx_importer.hpp): each maps one node
// (or a MatMul and its bias Add, or a Pad and the node after it) to a
// lockstep layer and its weights, or fails naming the node.

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "io/onnx_importer.hpp"

namespace lockstep::io::onnx_import {

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
    fail(n,
         "weight '" + t.name() + "' is stored in an external file; expected it inside the model");
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
    for (int64_t i = 0; i < in; ++i) weight[o * in + i] = trans_b ? w[o * in + i] : w[i * out + o];
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
                                      " values (one per output), found " +
                                      std::to_string(bias.size()));
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
  if (attr_int(n, "group", 1) != 1)
    fail(n, "expected group = 1 (grouped convolutions are not supported)");
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
                (pad != 0 ? ", padding=" + std::to_string(pad) : "") +
                (bias.empty() ? ", nobias)" : ")"),
            {},
            {}};
  item.params.emplace_back("weight", std::move(w));
  if (!bias.empty()) item.params.emplace_back("bias", std::move(bias));
  push(std::move(item), n.output(0));
}
namespace {
// The shortest text of a float eps that reads back as the same float.
std::string eps_text(float eps) {
  char buf[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(eps));
    if (std::strtof(buf, nullptr) == eps) break;
  }
  return buf;
}
}  // namespace

void Importer::batchnorm(const onnx::NodeProto& n) {
  if (attr_int(n, "training_mode", 0) != 0 || n.output_size() > 1)
    fail(n, "expected the inference form (training_mode = 0, one output)");
  const float eps = attr_float(n, "epsilon", 1e-5f);
  Item item{
      std::strtof("1e-05", nullptr) == eps ? "batchnorm" : "batchnorm(eps=" + eps_text(eps) + ")",
      {},
      {}};
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
  if (pad_ && (max || pad != pad_))
    fail(n, "expected no pads of its own (and average pooling) after a Pad node");
  if (attr_int(n, "ceil_mode", 0) != 0) fail(n, "expected ceil_mode = 0, found 1");
  if (same(n, attr_ints(n, "dilations"), 1, "dilation") != 1) fail(n, "expected dilations of 1");
  if (!max && pad > pad_ && attr_int(n, "count_include_pad", 0) != 1)
    fail(n, "expected count_include_pad = 1 with padding (lockstep averages padding as zeros)");
  const auto* auto_pad = find_attr(n, "auto_pad");
  if (auto_pad && auto_pad->s() != "NOTSET" && auto_pad->s() != "VALID")
    fail(n, "expected explicit pads, found auto_pad = " + auto_pad->s());
  push({std::string(max ? "maxpool2d(" : "avgpool2d(") + std::to_string(k) + ", stride=" +
            std::to_string(stride) + (pad ? ", padding=" + std::to_string(pad) : "") + ")",
        {},
        {}},
       n.output(0));
}

// Pad with zeros, the same on every side of H and W (N and C: none): kept in
// pad_ for the Conv or AveragePool after it; all-zero pads are skipped.
void Importer::pad(const onnx::NodeProto& n) {
  const auto* mode = find_attr(n, "mode");
  if (mode && mode->s() != "constant") fail(n, "expected mode = constant, found " + mode->s());
  if (n.input_size() > 2 && !n.input(2).empty()) {
    const auto it = constants_.find(n.input(2));
    if (it == constants_.end() ||
        it->second->raw_data().find_first_not_of('\0') != std::string::npos ||
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

// Add(chain output, earlier tensor t): the layers since t become
// residual(...) when they are plain (no names, no merges) and nothing after
// this Add reads a tensor made inside them; otherwise add(@name).
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
  bool plain = true;
  for (size_t j = first; j < chain_.size(); ++j) {
    const std::string& t = chain_[j].token;
    plain = plain && chain_[j].name.empty() && t.rfind("concat(", 0) != 0 && t.rfind("add(", 0) != 0;
  }
  for (const auto& [tensor, pos] : position_)  // read again after this node: needs a name
    if (pos > first && !uses_[tensor].empty() && uses_[tensor].back() > node_) plain = false;
  if (!plain && first > 0) {
    merge(n, false);
    return;
  }
  if (!plain)
    fail(n, "adds the graph input '" + skip + "' to '" + cur_ +
                "' across named outputs or merges; lockstep names layers' outputs, not the "
                "input, and its residual blocks hold plain layers");
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

void Importer::merge(const onnx::NodeProto& n, bool concat) {
  if (n.input_size() != 2) fail(n, "expected 2 inputs (the current tensor and an earlier one)");
  if (concat && attr_int(n, "axis", 0) != 1)
    fail(n, "expected axis = 1 (channels), found " + std::to_string(attr_int(n, "axis", 0)));
  const int mine = n.input(0) == cur_ ? 0 : !concat && n.input(1) == cur_ ? 1 : -1;
  if (mine < 0)
    fail(n, "expected the first input to be the output of the layer before it, '" + cur_ +
                "', found '" + n.input(0) + "' and '" + n.input(1) + "' (lockstep's " +
                (concat ? "concat(@name) puts the current tensor first" : "add(@name) adds an "
                                                                          "earlier output to "
                                                                          "the current tensor") +
                ")");
  const std::string& other = n.input(1 - mine);
  const auto it = position_.find(other);
  if (it == position_.end() || it->second >= chain_.size())
    fail(n, "expected the other input, '" + other +
                "', to be a tensor made earlier in the chain by a layer at the top level");
  if (it->second == 0)
    fail(n, "takes the graph input '" + other +
                "'; lockstep names layers' outputs (layer @name), not the input");
  Item& source = chain_[it->second - 1];
  if (source.name.empty()) source.name = "skip" + std::to_string(++names_made_);
  push({std::string(concat ? "concat(@" : "add(@") + source.name + ")", {}, {}}, n.output(0));
}

// Resize by constant scales (1, 1, s, s), s a whole number: nearest with
// asymmetric coordinates and floor (lockstep's and PyTorch's nearest) or
// linear with half_pixel / pytorch_half_pixel (PyTorch's bilinear,
// align_corners=False; the two differ only for an output of one pixel).
void Importer::resize(const onnx::NodeProto& n) {
  const std::string mode = attr_text(n, "mode", "nearest");
  const std::string coords = attr_text(n, "coordinate_transformation_mode", "half_pixel");
  const std::string rounding = attr_text(n, "nearest_mode", "round_prefer_floor");
  const bool nearest = mode == "nearest" && coords == "asymmetric" && rounding == "floor";
  const bool bilinear =
      mode == "linear" && (coords == "half_pixel" || coords == "pytorch_half_pixel");
  if (!nearest && !bilinear)
    fail(n, "expected mode = nearest with coordinate_transformation_mode = asymmetric and "
            "nearest_mode = floor, or mode = linear with half_pixel (PyTorch's nn.Upsample "
            "nearest / bilinear, align_corners=False); found mode = " + mode +
                ", coordinate_transformation_mode = " + coords +
                (mode == "nearest" ? ", nearest_mode = " + rounding : std::string()));
  if (attr_int(n, "exclude_outside", 0) != 0) fail(n, "expected exclude_outside = 0");
  if (attr_int(n, "antialias", 0) != 0) fail(n, "expected antialias = 0");
  if (find_attr(n, "axes")) fail(n, "expected no axes attribute (scales for all of N, C, H, W)");
  if (n.input_size() < 3 || n.input(2).empty())
    fail(n, "expected constant scales (1, 1, s, s) as input 2, found " +
                std::string(n.input_size() > 3 && !n.input(3).empty() ? "sizes" : "none"));
  const std::vector<float> scales = constant(n, 2);
  const auto s = static_cast<int64_t>(scales.size() == 4 ? scales[2] : 0);
  if (scales.size() != 4 || scales[0] != 1.0f || scales[1] != 1.0f || scales[2] != scales[3] ||
      s < 1 || static_cast<float>(s) != scales[2]) {
    std::string found;
    for (float v : scales) found += (found.empty() ? "" : ", ") + std::to_string(v);
    fail(n, "expected scales (1, 1, s, s) with s a whole number, found (" + found + ")");
  }
  if (n.input_size() > 3 && !n.input(3).empty()) fail(n, "expected scales or sizes, found both");
  push({"upsample(" + std::to_string(s) + (bilinear ? ", mode=bilinear)" : ")"), {}, {}},
       n.output(0));
}

// ConvTranspose with W (C, O, k, k), as lockstep's conv_transpose2d keeps it.
void Importer::conv_transpose(const onnx::NodeProto& n) {
  std::vector<int64_t> wd;
  std::vector<float> w = constant(n, 1, &wd);
  if (wd.size() != 4 || wd[2] != wd[3])
    fail(n, "expected a square 2-D kernel (C, O, k, k), found " + shape_str(wd));
  if (attr_int(n, "group", 1) != 1)
    fail(n, "expected group = 1 (grouped convolutions are not supported)");
  if (same(n, attr_ints(n, "dilations"), 1, "dilation") != 1) fail(n, "expected dilations of 1");
  const auto* auto_pad = find_attr(n, "auto_pad");
  if (auto_pad && auto_pad->s() != "NOTSET")
    fail(n, "expected explicit pads, found auto_pad = " + auto_pad->s());
  if (find_attr(n, "output_shape"))
    fail(n, "expected pads and output_padding, found an output_shape attribute");
  const int64_t stride = same(n, attr_ints(n, "strides"), 1, "stride");
  const int64_t pad = same(n, attr_ints(n, "pads"), 0, "padding");
  const int64_t extra = same(n, attr_ints(n, "output_padding"), 0, "output padding");
  std::vector<float> bias;
  if (n.input_size() > 2 && !n.input(2).empty()) bias = constant(n, 2);
  Item item{"conv_transpose2d(" + std::to_string(wd[1]) + ", " + std::to_string(wd[2]) +
                ", stride=" + std::to_string(stride) +
                (pad != 0 ? ", padding=" + std::to_string(pad) : "") +
                (extra != 0 ? ", output_padding=" + std::to_string(extra) : "") +
                (bias.empty() ? ", nobias)" : ")"),
            {},
            {}};
  item.params.emplace_back("weight", std::move(w));
  if (!bias.empty()) item.params.emplace_back("bias", std::move(bias));
  push(std::move(item), n.output(0));
}

}  // namespace lockstep::io::onnx_import
