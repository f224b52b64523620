// Protobuf helpers shared by the ONNX exporter and importer (onnx_util.hpp).

#include "io/onnx_util.hpp"

#include <fcntl.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"

namespace lockstep::io::onnx_util {

void add_initializer(onnx::GraphProto& g, const std::string& name,
                     const std::vector<int64_t>& shape, const std::vector<float>& values) {
  onnx::TensorProto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) t->add_dims(d);
  // ONNX raw_data is little-endian, like every machine lockstep runs on.
  t->set_raw_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

onnx::NodeProto& add_node(onnx::GraphProto& g, const std::string& op,
                          const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& name) {
  onnx::NodeProto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const std::string& s : inputs) n->add_input(s);
  for (const std::string& s : outputs) n->add_output(s);
  return *n;
}

void set_ints(onnx::NodeProto& n, const std::string& attr, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(attr);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void set_int(onnx::NodeProto& n, const std::string& attr, int64_t value) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(attr);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void set_string(onnx::NodeProto& n, const std::string& attr, const std::string& value) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(attr);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

void set_float(onnx::NodeProto& n, const std::string& attr, float value) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(attr);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& list,
               const std::string& name, const std::vector<int64_t>& dims) {
  onnx::ValueInfoProto* v = list.Add();
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* s = t->mutable_shape();
  s->add_dim()->set_dim_param("N");
  for (int64_t d : dims) s->add_dim()->set_dim_value(d);
}

void check(const onnx::ModelProto& model, const std::string& where) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto inferred = model;
    onnx::ShapeInferenceOptions options;
    options.check_type = true;
    options.error_mode = 1;  // strict: any inference error or shape conflict throws
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    LOCKSTEP_FAIL(where << ": the ONNX checker rejects the model: " << e.what());
  }
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  LOCKSTEP_CHECK(!path.empty(), "ONNX output: no path given");
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  LOCKSTEP_CHECK(fd >= 0, "ONNX output '" << path << "': cannot create '" << tmp
                                          << "': " << std::strerror(errno));
  size_t done = 0;
  int error = 0;
  while (done < bytes.size() && error == 0) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n > 0) done += static_cast<size_t>(n);
    if (n < 0 && errno != EINTR) error = errno;
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    fs::remove(tmp, ec);
    LOCKSTEP_FAIL("ONNX output '" << path << "': cannot write it (" << done << " of "
                                  << bytes.size() << " bytes written): " << std::strerror(error));
  }
}

}  // namespace lockstep::io::onnx_util
