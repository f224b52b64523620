// ONNX export and import when lockstep is built without libonnx-dev and
// libprotobuf-dev: every entry point says what is missing.

#include "core/error.hpp"
#include "io/onnx.hpp"

namespace lockstep::io {
namespace {
[[noreturn]] void missing(const std::string& what) {
  LOCKSTEP_FAIL(what << ": lockstep was built without ONNX support: install libonnx-dev "
                        "libprotobuf-dev (launch/install_deps.sh) and rebuild");
}
}  // namespace

bool onnx_supported() {
  return false;
}

void require_onnx(const std::string& what) {
  missing(what);
}

OnnxExportSummary export_onnx(const Model&, const OnnxExportOptions&, const std::string& path) {
  missing("ONNX export to '" + path + "'");
}

OnnxImport import_onnx(const std::string& path, const Shape&) {
  missing("ONNX import of '" + path + "'");
}

}  // namespace lockstep::io
