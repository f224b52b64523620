#pragma once
// Internal to io/onnx_*.cpp (built only with libonnx-dev): the protobuf
// helpers export and import share.

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep::io::onnx_util {

/// A float32 initializer `name` of `shape` holding `values` (raw_data).
void add_initializer(onnx::GraphProto& g, const std::string& name,
                     const std::vector<int64_t>& shape, const std::vector<float>& values);
/// A node op(inputs) -> outputs with the given name; attributes added by the caller.
onnx::NodeProto& add_node(onnx::GraphProto& g, const std::string& op,
                          const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& name);
void set_ints(onnx::NodeProto& n, const std::string& attr, const std::vector<int64_t>& values);
void set_int(onnx::NodeProto& n, const std::string& attr, int64_t value);
void set_float(onnx::NodeProto& n, const std::string& attr, float value);
void set_string(onnx::NodeProto& n, const std::string& attr, const std::string& value);
/// A float32 graph input/output: dimension 0 symbolic ("N"), then `dims`.
void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& list,
               const std::string& name, const std::vector<int64_t>& dims);

/// The checker with full (strict) shape inference; throws naming `where`.
void check(const onnx::ModelProto& model, const std::string& where);
/// Serialises to `path` atomically (temporary name, fsync, rename).
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace lockstep::io::onnx_util
