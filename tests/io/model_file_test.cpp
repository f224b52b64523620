// Saved-model file: round trip, optional buffers, atomic write, and the
// validation of the format attribute and of the layout against the slab.

#include "io/model_file.hpp"

#include <gtest/gtest.h>

#include "io/dataset.hpp"
#include "io/hdf5.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;
using test::RawFile;
using test::TempFolder;

SavedModel small_model() {
  SavedModel m;
  m.layers = "dense(4), relu, dense(2)";
  m.input_shape = {1, 2, 3};
  m.loss = "cross_entropy";
  m.num_outputs = 2;
  m.config = "[model]\nlayers = dense(4), relu, dense(2)\n[optim]\nlr = 0.1\n";
  m.layout = {{"dense0.weight", {4, 6}, 0},
              {"dense0.bias", {4}, 24},
              {"scale", {}, 28},
              {"dense2.weight", {2, 4}, 29},
              {"dense2.bias", {2}, 37}};
  for (int i = 0; i < 39; ++i) m.parameters.push_back(0.25f * static_cast<float>(i) - 3.0f);
  m.buffers = {1.0f, 2.0f, 3.0f};
  return m;
}

void expect_equal(const SavedModel& a, const SavedModel& b) {
  EXPECT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.input_shape, b.input_shape);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.num_outputs, b.num_outputs);
  EXPECT_EQ(a.config, b.config);
  ASSERT_EQ(a.layout.size(), b.layout.size());
  for (size_t i = 0; i < a.layout.size(); ++i) {
    EXPECT_EQ(a.layout[i].name, b.layout[i].name);
    EXPECT_EQ(a.layout[i].shape, b.layout[i].shape);
    EXPECT_EQ(a.layout[i].offset, b.layout[i].offset);
  }
  EXPECT_EQ(a.parameters, b.parameters);
  EXPECT_EQ(a.buffers, b.buffers);
}

TEST(ModelFile, RoundTrip) {
  TempFolder dir;
  const std::string path = dir.file("models/run1/model.h5");  // folders created
  const SavedModel m = small_model();
  save_model(path, m);
  expect_equal(load_model(path), m);
  // The documented layout, as h5py would see it.
  h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)};
  EXPECT_EQ(h5::read_string_attribute(file.get(), "lockstep_format"), "model/1");
  EXPECT_EQ(h5::read_int64s_attribute(file.get(), "num_outputs"), (std::vector<int64_t>{2}));
  EXPECT_EQ(h5::read_strings_dataset(file.get(), "/layout/shapes"),
            (std::vector<std::string>{"4x6", "4", "", "2x4", "2"}));
  EXPECT_EQ(h5::object_type(file.get(), "/parameters"), H5I_DATASET);
  EXPECT_EQ(h5::object_type(file.get(), "/layout/offsets"), H5I_DATASET);
}

TEST(ModelFile, ClassNamesRoundTripUnderTheChecksum) {
  TempFolder dir;
  const std::string plain = dir.file("plain.h5");
  save_model(plain, small_model());
  EXPECT_TRUE(load_model(plain).class_names.empty());
  SavedModel m = small_model();
  m.class_names = {"cat", "dog, hot"};
  const std::string path = dir.file("named.h5");
  save_model(path, m);
  EXPECT_EQ(load_model(path).class_names, m.class_names);
  {  // another name under the same checksum: the file is corrupt
    h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)};
    ASSERT_GE(H5Adelete(file.get(), "class_names"), 0);
    h5::write_strings_attribute(file.get(), "class_names", {"cat", "eel"});
  }
  EXPECT_TRUE(contains_all(error_of([&] { load_model(path); }), {"checksum mismatch", path}));
}

TEST(ModelFile, NoBuffersAndEmptyLayout) {
  TempFolder dir;
  SavedModel m = small_model();
  m.buffers.clear();
  save_model(dir.file("a.h5"), m);
  expect_equal(load_model(dir.file("a.h5")), m);
  SavedModel empty;
  empty.loss = "mse";
  save_model(dir.file("b.h5"), empty);
  expect_equal(load_model(dir.file("b.h5")), empty);
  EXPECT_EQ(dir.entries().size(), 2u);  // no temporary files left
}

TEST(ModelFile, SaveRefusesLayoutOutsideTheSlab) {
  TempFolder dir;
  SavedModel m = small_model();
  m.layout[4].offset = 38;  // 2 values at 38 in a slab of 39
  EXPECT_TRUE(contains_all(error_of([&] { save_model(dir.file("m.h5"), m); }),
                           {"m.h5", "'dense2.bias'", "offset 38", "slab of 39"}));
  EXPECT_TRUE(dir.entries().empty());
}

TEST(ModelFile, LoadValidatesFormat) {
  TempFolder dir;
  EXPECT_TRUE(contains_all(error_of([&] { load_model(dir.file("none.h5")); }),
                           {"none.h5", "no such file"}));
  DatasetArrays d;
  d.sample_shape = {2};
  d.features_f32 = {1, 2};
  d.labels = {0};
  write_dataset(DatasetSpec{dir.file("data.h5")}, d);
  EXPECT_TRUE(contains_all(error_of([&] { load_model(dir.file("data.h5")); }),
                           {"data.h5", "lockstep_format is 'dataset/1'", "expected 'model/1'"}));
  const std::vector<float> p{1, 2};
  {
    RawFile f(dir.file("raw.h5"));
    f.add("/parameters", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {2}, p.data());
  }
  EXPECT_TRUE(contains_all(error_of([&] { load_model(dir.file("raw.h5")); }),
                           {"raw.h5", "no lockstep_format attribute"}));
  test::write_text(dir.file("text.h5"), "hello");
  EXPECT_TRUE(contains_all(error_of([&] { load_model(dir.file("text.h5")); }),
                           {"text.h5", "not an HDF5 file"}));
}

TEST(ModelFile, LoadRefusesLayoutOutsideTheSlab) {
  TempFolder dir;
  const std::string path = dir.file("m.h5");
  save_model(path, small_model());
  {
    // Damage the file: move the last parameter past the end of the slab.
    h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)};
    h5::Dataset ds{H5Dopen2(file.get(), "/layout/offsets", H5P_DEFAULT)};
    const std::vector<int64_t> offsets{0, 24, 28, 29, 1000};
    ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, offsets.data()),
              0);
  }
  // The checksum catches it first.
  EXPECT_TRUE(contains_all(error_of([&] { load_model(path); }),
                           {"checksum mismatch in /layout/offsets of ", "m.h5", "corrupt"}));
  {
    // As a file written before checksums existed: the layout check catches it.
    h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)};
    ASSERT_GE(H5Adelete(file.get(), "crc32"), 0);
    ASSERT_GE(H5Adelete_by_name(file.get(), "/layout/offsets", "crc32", H5P_DEFAULT), 0);
  }
  EXPECT_TRUE(contains_all(error_of([&] { load_model(path); }),
                           {"m.h5", "'dense2.bias'", "offset 1000", "outside the parameter slab"}));
  EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0) << "an HDF5 object was left open";
}

}  // namespace
}  // namespace lockstep::io
