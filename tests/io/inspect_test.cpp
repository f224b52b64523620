// describe_file: the text names the kind, every dataset with dtype, shape and
// storage, the attributes, and a summary (samples and class range for a
// dataset; layers and parameter count for a model).

#include "io/inspect.hpp"

#include <gtest/gtest.h>

#include "io/dataset.hpp"
#include "io/model_file.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;
using test::RawFile;
using test::TempFolder;

TEST(Inspect, DatasetFile) {
  TempFolder dir;
  DatasetArrays a;
  a.sample_shape = {1, 4, 4};
  a.feature_type = FeatureType::kUint8;
  a.features_u8.assign(20 * 16, 7);
  for (int i = 0; i < 20; ++i) a.labels.push_back(1 + i % 3);
  a.class_names = {"zero", "one", "two", "three"};
  write_dataset(DatasetSpec{dir.file("d.h5")}, a);
  const std::string text = describe_file(dir.file("d.h5"));
  EXPECT_TRUE(
      contains_all(text, {"d.h5", "kind: lockstep dataset", "@lockstep_format = \"dataset/1\"",
                          "@class_names = [\"zero\", \"one\", \"two\", \"three\"]",
                          "/features  dataset uint8 (20, 1, 4, 4), chunks (20, 1, 4, 4)",
                          "/labels  dataset int32 (20,)", "samples: 20",
                          "sample shape: (1, 4, 4) uint8", "class ids 1..3"}))
      << text;
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
    EXPECT_TRUE(contains_all(text, {"gzip 4"}));
  }
}

TEST(Inspect, ModelFile) {
  TempFolder dir;
  SavedModel m;
  m.layers = "dense(4), relu, dense(2)";
  m.input_shape = {3};
  m.loss = "mse";
  m.num_outputs = 2;
  m.config = std::string(200, 'x') + "\nsecond line\n";
  m.layout = {{"w0", {4, 3}, 0}, {"b0", {4}, 12}, {"w1", {2, 4}, 16}, {"b1", {2}, 24}};
  m.parameters.assign(26, 0.5f);
  save_model(dir.file("m.h5"), m);
  const std::string text = describe_file(dir.file("m.h5"));
  EXPECT_TRUE(contains_all(
      text, {"kind: lockstep model", "/parameters  dataset float32 (26,), contiguous",
             "/layout  group", "/layout/names  dataset string (4,)",
             "layers: dense(4), relu, dense(2)", "input shape: (3,)", "loss: mse, outputs: 2",
             "parameters: 26 in 4 tensors", "w1 (2, 4) at 16", "\"... (2 lines)"}))
      << text;
  EXPECT_EQ(text.find(std::string(61, 'x')), std::string::npos) << "long strings are cut";
}

TEST(Inspect, ForeignAndInvalidFiles) {
  TempFolder dir;
  const std::vector<double> v{1, 2, 3};
  {
    RawFile f(dir.file("plain.h5"));
    f.add("/g/values", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {3}, v.data());
  }
  const std::string plain = describe_file(dir.file("plain.h5"));
  EXPECT_TRUE(contains_all(
      plain, {"no lockstep_format attribute", "/g  group", "/g/values  dataset float64 (3,)"}))
      << plain;
  EXPECT_EQ(plain.find("summary"), std::string::npos);

  DatasetArrays a;
  a.sample_shape = {2};
  a.features_f32 = {1, 2, 3, 4};
  a.labels = {0, 1};
  write_dataset(DatasetSpec{dir.file("odd.h5"), "/x", "/y"}, a);  // not the default names
  EXPECT_TRUE(contains_all(describe_file(dir.file("odd.h5")),
                           {"summary:", "invalid:", "no dataset '/features'"}));
  EXPECT_TRUE(contains_all(error_of([&] { describe_file(dir.file("none.h5")); }),
                           {"none.h5", "no such file"}));
  EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0) << "an HDF5 object was left open";
}

}  // namespace
}  // namespace lockstep::io
