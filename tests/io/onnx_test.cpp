// ONNX export and import (io/onnx.hpp): every layer kind exported, checked
// by the ONNX checker with strict shape inference, imported back and run
// (the outputs of the imported model equal the original's); BatchNorm folded
// gives the same outputs to float rounding; upsampling (Resize), transposed
// convolutions and U-Net-like DAGs (named outputs read by Concat / Add) go
// round too; and the import errors (an unsupported operator, a Resize of
// another mode, a Concat lockstep cannot express, a truncated file, an input
// shape that does not fit, an Add that is not a residual) name the file, the
// node and the operator. The numerical check in a real runtime (ONNX
// Runtime) and the PyTorch round trip are tests/onnx/*.sh.

#include "io/onnx.hpp"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>

#include "core/rng.hpp"
#include "io/onnx_util.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;
using test::TempFolder;

// A model of `spec` with random parameters and BatchNorm statistics.
std::unique_ptr<Model> random_model(const std::string& spec, const Shape& in, uint64_t seed) {
  auto m = std::make_unique<Model>(spec, in);
  m->init_params(seed, InitScheme::kXavier);
  Rng rng(seed + 7);
  float* p = m->params().data<float>();
  for (const ParamInfo& info : m->layout())  // non-zero biases, gammas away from 1
    if (info.name.find("bias") != std::string::npos ||
        info.name.find("beta") != std::string::npos || info.name.find("gamma") != std::string::npos)
      for (int64_t i = 0; i < info.numel; ++i)
        p[info.offset + i] += static_cast<float>(0.3 * rng.normal());
  float* b = m->buffers().data<float>();
  for (const ParamInfo& info : m->buffer_layout())
    for (int64_t i = 0; i < info.numel; ++i)
      b[info.offset + i] = info.name.find("var") != std::string::npos
                               ? static_cast<float>(0.5 + rng.uniform())
                               : static_cast<float>(0.2 * rng.normal());
  return m;
}

Tensor run(Model& m, int64_t n, uint64_t seed) {
  Shape xs{n};
  xs.insert(xs.end(), m.input_shape().begin(), m.input_shape().end());
  Tensor x = Tensor::zeros(xs, DType::kF32);
  Rng rng(seed);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(rng.normal());
  Tensor y = m.forward(x, RunContext(Mode::kEval));
  Tensor out = Tensor::zeros(y.shape(), DType::kF32);
  out.copy_from(y);
  return out;
}

// max |a - b| / max |a|
double rel_diff(const Tensor& a, const Tensor& b) {
  double diff = 0, scale = 1e-30;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(a.data<float>()[i] - b.data<float>()[i])));
    scale = std::max(scale, static_cast<double>(std::abs(a.data<float>()[i])));
  }
  return diff / scale;
}

struct Case {
  const char* spec;
  Shape in;
};

const Case kCases[] = {
    {"dense(16), relu, dropout(0.2), dense(8), sigmoid, dense(3, nobias), tanh", {10}},
    {"conv2d(4, 3, padding=1), batchnorm, relu, maxpool2d(2), conv2d(6, 3, stride=2, nobias), "
     "bn(eps=0.001), relu, flatten, dense(5)",
     {2, 9, 9}},
    {"conv2d(4, 3, padding=1), batchnorm, relu, residual(conv2d(4, 3, padding=1), batchnorm, relu, "
     "residual(conv2d(4, 1), tanh)), avgpool2d(3, stride=2, padding=1), maxpool2d(3, stride=1, "
     "padding=1), global_avg_pool, dense(16), batchnorm, relu, dense(4)",
     {3, 8, 8}},
    {"conv2d(3, 3), dense(4)", {1, 5, 5}},  // dense straight on an image
    // Resize: nearest and bilinear, scales 2 and 3.
    {"conv2d(4, 3, padding=1), upsample(2), relu, upsample(3, mode=bilinear), conv2d(2, 3), "
     "upsample(2, mode=bilinear), upsample(1)",
     {2, 5, 5}},
    // ConvTranspose: stride, padding, output_padding, nobias, stride 1.
    {"conv_transpose2d(3, 3, stride=2, padding=1, output_padding=1), relu, "
     "conv_transpose2d(2, 2, nobias), tanh, conv_transpose2d(2, 3, stride=1, padding=1)",
     {2, 4, 4}},
    // A U-Net: named outputs read by Concat and Add across the decoder.
    {"conv2d(4, 3, padding=1), relu @e1, maxpool2d(2), conv2d(6, 3, padding=1), relu @e2, "
     "maxpool2d(2), conv2d(6, 3, padding=1), upsample(2), concat(@e2), conv2d(4, 3, padding=1), "
     "conv_transpose2d(4, 2), add(@e1), upsample(2, mode=bilinear), conv2d(3, 1)",
     {2, 8, 8}},
    // A named conv (not folded), a named BatchNorm (folded: the name moves to the conv),
    // add and concat of one output, a residual block among them.
    {"conv2d(4, 3, padding=1) @a, bn, relu, conv2d(4, 3, padding=1), bn @b, add(@a), "
     "residual(conv2d(4, 3, padding=1), relu), concat(@b), concat(@a), global_avg_pool, dense(3)",
     {3, 6, 6}},
};

class OnnxRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(OnnxRoundTrip, ExportPassesTheCheckerAndImportsToTheSameOutputs) {
  if (!onnx_supported()) GTEST_SKIP() << "built without libonnx-dev";
  TempFolder dir;
  const Case& c = GetParam();
  auto model = random_model(c.spec, c.in, 3);
  for (bool fold : {false, true}) {
    SCOPED_TRACE(fold ? "folded" : "not folded");
    OnnxExportOptions options;
    options.fold_batchnorm = fold;
    options.class_names = {"a", "b"};
    const std::string path = dir.file(fold ? "f.onnx" : "m.onnx");
    export_onnx(*model, options, path);
    // The file as written passes the checker with strict shape inference.
    onnx::ModelProto proto;
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(proto.ParseFromIstream(&in));
    EXPECT_NO_THROW(onnx_util::check(proto, path));
    EXPECT_EQ(proto.opset_import(0).version(), kOnnxOpset);
    EXPECT_EQ(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
    OnnxImport back = import_onnx(path);
    EXPECT_EQ(back.class_names, options.class_names);
    const double d = rel_diff(run(*model, 5, 11), run(*back.model, 5, 11));
    EXPECT_LT(d, fold ? 1e-5 : 1e-6) << back.model->spec();
  }
}

INSTANTIATE_TEST_SUITE_P(Layers, OnnxRoundTrip, ::testing::ValuesIn(kCases));

TEST(OnnxExport, NormalisationNodesComeFirstAndTheWrongChannelCountIsAnError) {
  if (!onnx_supported()) GTEST_SKIP() << "built without libonnx-dev";
  TempFolder dir;
  auto model = random_model("conv2d(2, 3), relu", {3, 5, 5}, 1);
  OnnxExportOptions options;
  options.norm_scale = {1, 2, 3};
  options.norm_shift = {0, -1, 1};
  export_onnx(*model, options, dir.file("n.onnx"));
  onnx::ModelProto proto;
  std::ifstream in(dir.file("n.onnx"), std::ios::binary);
  ASSERT_TRUE(proto.ParseFromIstream(&in));
  EXPECT_EQ(proto.graph().node(0).op_type(), "Mul");
  EXPECT_EQ(proto.graph().node(1).op_type(), "Add");
  options.norm_scale = {1, 2};
  EXPECT_TRUE(contains_all(error_of([&] { export_onnx(*model, options, dir.file("bad.onnx")); }),
                           {"one normalisation scale and shift per channel", "3"}));
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad.onnx")));
}

// A graph input (N, ...in) -> ops -> output (N, ...out; default: in), written to `path`.
void write_graph(const std::string& path, const std::vector<std::string>& ops,
                 const Shape& in = {4}, Shape out = {}) {
  onnx::ModelProto m;
  m.set_ir_version(onnx::IR_VERSION);
  m.add_opset_import()->set_version(kOnnxOpset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("g");
  onnx_util::add_value(*g.mutable_input(), "x", in);
  std::string cur = "x";
  for (size_t i = 0; i < ops.size(); ++i) {
    // (std::string().append: GCC 12 warns wrongly about "literal" + std::string here)
    const std::string name = std::string("t").append(std::to_string(i));
    const std::string node = std::string("node").append(std::to_string(i));
    if (ops[i] == "Add") {  // not a residual: x + x
      onnx_util::add_node(g, "Add", {cur, cur}, {name}, node);
    } else if (ops[i] == "Concat") {  // [x, x] along the features
      onnx_util::set_int(onnx_util::add_node(g, "Concat", {cur, cur}, {name}, node), "axis", 1);
    } else {
      onnx_util::add_node(g, ops[i], {cur}, {name}, node);
    }
    cur = name;
  }
  onnx_util::add_value(*g.mutable_output(), cur, out.empty() ? in : out);
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
}

TEST(OnnxImport, ErrorsNameTheFileTheNodeAndTheOperator) {
  if (!onnx_supported()) GTEST_SKIP() << "built without libonnx-dev";
  TempFolder dir;
  const std::string p = dir.file("g.onnx");
  write_graph(p, {"Relu", "Elu"});
  EXPECT_TRUE(contains_all(error_of([&] { import_onnx(p); }),
                           {p, "node 'node1'", "(Elu)", "unsupported operator", "Gemm"}));
  write_graph(p, {"Relu", "Add"});
  EXPECT_TRUE(contains_all(error_of([&] { import_onnx(p); }),
                           {p, "node 'node1'", "(Add)", "earlier in the chain"}));
  write_graph(p, {"Relu"}, {1, 4, 4});
  EXPECT_TRUE(contains_all(error_of([&] {
                             import_onnx(p, {3, 4, 4});
                           }),
                           {p, "(1, 4, 4)", "(3, 4, 4)"}));
}

TEST(OnnxImport, ADagComesBackWithNamedOutputsAndPlainSkipsAsResidualBlocks) {
  if (!onnx_supported()) GTEST_SKIP() << "built without libonnx-dev";
  TempFolder dir;
  auto model = random_model(
      "conv2d(4, 3, padding=1) @enc, maxpool2d(2), residual(conv2d(4, 3, padding=1), relu), "
      "conv2d(4, 3, padding=1), upsample(2), concat(@enc), conv2d(2, 1), relu @x, "
      "conv2d(2, 3, padding=1), add(@x)",
      {1, 6, 6}, 5);
  export_onnx(*model, {}, dir.file("u.onnx"));
  OnnxImport back = import_onnx(dir.file("u.onnx"));
  EXPECT_EQ(back.model->spec(),
            "conv2d(4, 3, padding=1) @skip1, maxpool2d(2), residual(conv2d(4, 3, padding=1), "
            "relu), conv2d(4, 3, padding=1), upsample(2), concat(@skip1), conv2d(2, 1), relu, "
            "residual(conv2d(2, 3, padding=1))");
  EXPECT_LT(rel_diff(run(*model, 3, 2), run(*back.model, 3, 2)), 1e-6);
}

// x (N, 2, 4, 4) -> Relu -> [Concat | Resize]: graphs with one node lockstep cannot express.
void write_image_graph(const std::string& path, const std::string& op,
                       const std::vector<std::pair<std::string, std::string>>& texts,
                       bool current_first = true) {
  onnx::ModelProto m;
  m.set_ir_version(onnx::IR_VERSION);
  m.add_opset_import()->set_version(kOnnxOpset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("g");
  onnx_util::add_value(*g.mutable_input(), "x", {2, 4, 4});
  onnx_util::add_node(g, "Relu", {"x"}, {"r"}, "relu");
  onnx_util::add_node(g, "Sigmoid", {"r"}, {"s"}, "sigmoid");
  if (op == "Concat") {
    onnx_util::set_int(onnx_util::add_node(g, "Concat",
                                           current_first ? std::vector<std::string>{"s", "r"}
                                                         : std::vector<std::string>{"r", "s"},
                                           {"y"}, "merge"),
                       "axis", 1);
    onnx_util::add_value(*g.mutable_output(), "y", {4, 4, 4});
  } else {
    onnx_util::add_initializer(g, "scales", {4}, {1, 1, 2, 2});
    onnx::NodeProto& n = onnx_util::add_node(g, "Resize", {"s", "", "scales"}, {"y"}, "resize");
    for (const auto& [k, v] : texts) onnx_util::set_string(n, k, v);
    onnx_util::add_value(*g.mutable_output(), "y", {2, 8, 8});
  }
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
}

TEST(OnnxImport, ConcatAndResizeLockstepCannotExpressAreErrorsNamingTheNode) {
  if (!onnx_supported()) GTEST_SKIP() << "built without libonnx-dev";
  TempFolder dir;
  const std::string p = dir.file("c.onnx");
  write_image_graph(p, "Concat", {});
  EXPECT_EQ(import_onnx(p).model->spec(), "relu @skip1, sigmoid, concat(@skip1)");
  write_image_graph(p, "Concat", {}, false);  // the earlier tensor first
  EXPECT_TRUE(contains_all(error_of([&] { import_onnx(p); }),
                           {p, "node 'merge'", "(Concat)", "puts the current tensor first"}));
  write_graph(p, {"Relu", "Concat"}, {4}, {8});  // x, x
  EXPECT_TRUE(contains_all(error_of([&] { import_onnx(p); }),
                           {p, "node 'node1'", "(Concat)", "made earlier in the chain"}));
  write_image_graph(p, "Resize",
                    {{"mode", "nearest"},
                     {"coordinate_transformation_mode", "asymmetric"},
                     {"nearest_mode", "floor"}});
  EXPECT_EQ(import_onnx(p).model->spec(), "relu, sigmoid, upsample(2)");
  write_image_graph(p, "Resize", {{"mode", "linear"}, {"coordinate_transformation_mode",
                                                       "pytorch_half_pixel"}});
  EXPECT_EQ(import_onnx(p).model->spec(), "relu, sigmoid, upsample(2, mode=bilinear)");
  for (const auto& texts : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{"mode", "cubic"}},
           {{"mode", "nearest"}},  // half_pixel, round_prefer_floor
           {{"mode", "linear"}, {"coordinate_transformation_mode", "align_corners"}},
           {{"mode", "nearest"}, {"coordinate_transformation_mode", "asymmetric"}}}) {
    write_image_graph(p, "Resize", texts);
    EXPECT_TRUE(contains_all(error_of([&] { import_onnx(p); }),
                             {p, "node 'resize'", "(Resize)", "found mode = " + texts[0].second}))
        << texts[0].second;
  }
}

TEST(OnnxImport, ATruncatedOrForeignFileIsAnError) {
  if (!onnx_supported()) GTEST_SKIP() << "built without libonnx-dev";
  TempFolder dir;
  auto model = random_model("dense(32), relu, dense(4)", {16}, 1);
  export_onnx(*model, {}, dir.file("m.onnx"));
  std::ifstream in(dir.file("m.onnx"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t keep : {bytes.size() / 2, bytes.size() - 3, size_t{7}}) {
    std::ofstream(dir.file("t.onnx"), std::ios::binary) << bytes.substr(0, keep);
    EXPECT_TRUE(
        contains_all(error_of([&] { import_onnx(dir.file("t.onnx")); }), {dir.file("t.onnx")}))
        << keep;
  }
  std::ofstream(dir.file("x.onnx")) << "not an onnx model at all";
  EXPECT_TRUE(contains_all(error_of([&] { import_onnx(dir.file("x.onnx")); }),
                           {"not a readable ONNX model"}));
  EXPECT_TRUE(contains_all(error_of([&] { import_onnx(dir.file("missing.onnx")); }),
                           {"cannot open", "missing.onnx"}));
}

}  // namespace
}  // namespace lockstep::io
