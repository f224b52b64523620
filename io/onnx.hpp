#pragma once
// ONNX export and import of lockstep models (the deployment path and the way
// in for weights trained elsewhere). Built with Debian's libonnx-dev (its
// protobuf classes, checker and shape inference); without it every entry
// point throws "built without ONNX support" (onnx_none.cpp).
//
// Export writes one graph, opset kOnnxOpset: input "input" float32
// (N, ...input_shape) with a symbolic batch dimension N; optionally the input
// normalisation x * a[c] + b[c] as its first two nodes (the formula and float
// rounding of io/normaliser.hpp); then one group of nodes per layer (Dropout
// is the identity, BatchNorm a BatchNormalization node in inference form or
// folded into the convolution or dense layer before it, a residual block an
// Add of its input and its body, upsample a Resize (nearest: asymmetric,
// floor; bilinear: linear, half_pixel), conv_transpose2d a ConvTranspose, a
// named output ("layer @name") a graph value that a later concat(@name)
// (Concat, axis 1, the current tensor first) or add(@name) (Add) reads);
// outputs "logits" and, for classifiers,
// "probabilities" (Softmax). Metadata: lockstep's layer spec, loss, the
// normalisation, class names. The model passes the checker and strict shape
// inference before anything is written; the file is written atomically.
//
// Import reads a graph of Gemm / MatMul+Add, Conv, ConvTranspose,
// BatchNormalization, Relu / Sigmoid / Tanh, MaxPool / AveragePool /
// GlobalAveragePool, Resize (the two forms above; PyTorch's
// pytorch_half_pixel too), Flatten, Add (a residual block when it adds the
// input of plain layers to their output, else add(@name)), Concat (axis 1,
// the current tensor first: concat(@name); the layer that made the other
// input is named " @skipK"), Pad with zeros
// before a Conv or AveragePool (merged into its padding), Softmax at the end
// (dropped: lockstep's classifiers output logits; a Flatten that only feeds
// it, as in an export with image outputs, is skipped), Identity and Dropout
// (skipped), into a lockstep model with its parameters. A lockstep export
// re-imports when written with no normalisation nodes. Any other operator,
// or a pattern lockstep's layers cannot express, is an error naming the file,
// the node and the operator.

#include <memory>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace lockstep::io {

constexpr int kOnnxOpset = 17;

/// False when lockstep was built without libonnx-dev / libprotobuf-dev.
bool onnx_supported();
/// Throws "`what`: lockstep was built without ONNX support: install ..." unless supported.
void require_onnx(const std::string& what);

struct OnnxExportOptions {
  /// Per-channel x * scale[c] + shift[c] applied to the raw input first; empty: none
  /// (the graph then takes normalised inputs).
  std::vector<float> norm_scale, norm_shift;
  std::string normalisation_note;  // metadata "lockstep.normalisation" (how inputs are prepared)
  bool classifier = true;          // adds the output "probabilities" = Softmax(logits)
  bool fold_batchnorm = false;     // fold BatchNorm into the conv / dense layer before it
  std::string loss;                // metadata
  std::vector<std::string> class_names;
  std::string producer_version;
};

struct OnnxExportSummary {
  int64_t nodes = 0;
  int64_t initializers = 0;
  int64_t folded_batchnorms = 0;
};

/// Writes `model` (parameters and buffers on any device) as ONNX to `path`.
OnnxExportSummary export_onnx(const Model& model, const OnnxExportOptions& options,
                              const std::string& path);

struct OnnxImport {
  std::unique_ptr<Model> model;          // on the CPU, parameters and buffers loaded
  std::vector<std::string> class_names;  // from metadata "class_names" (lockstep's exports)
  bool had_softmax = false;              // a final Softmax was dropped
  int64_t nodes = 0;
};

/// Reads the ONNX model at `path` into a lockstep model, or throws naming the
/// file and the offending node. `input_shape` (optional, per sample) must
/// match the graph's input where the graph fixes it and fills in dimensions
/// it leaves symbolic.
OnnxImport import_onnx(const std::string& path, const Shape& input_shape = {});

}  // namespace lockstep::io
