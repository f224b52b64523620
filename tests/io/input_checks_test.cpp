// Input values and encodings checked where they are read: NaN or Inf in float
// features or targets is an error naming the file, the dataset and the first
// such row (in-memory shards, streamed pieces, CSV prediction inputs and CSV
// import); a dataset written through a filter this HDF5 cannot decode is an
// error at open naming the file, the dataset and the filter; the
// class_names attribute is part of the schema.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "io/dataset.hpp"
#include "io/importers.hpp"
#include "io/pipeline.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;
using test::TempFolder;

// n rows of 2x3 float features (row i all i / n), class ids i % 3; row
// `bad_row` (when >= 0) has `bad` as its 5th value.
DatasetArrays float_rows(int64_t n, int64_t bad_row, float bad) {
  DatasetArrays a;
  a.sample_shape = {2, 3};
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 6; ++j) a.features_f32.push_back(static_cast<float>(i) / n);
    a.labels.push_back(static_cast<int32_t>(i % 3));
  }
  if (bad_row >= 0) a.features_f32[static_cast<size_t>(bad_row * 6 + 4)] = bad;
  return a;
}

TEST(InputChecks, NanFeaturesAreAnErrorAtReadNamingFileDatasetAndRow) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("nan.h5")};
  write_dataset(spec, float_rows(40, 23, std::numeric_limits<float>::quiet_NaN()));
  EXPECT_NO_THROW(probe_dataset(spec));              // the schema is fine
  EXPECT_NO_THROW(Shard::load(spec, 0, 20));         // a shard without the row is fine
  EXPECT_NO_THROW(Shard::load(spec, 0, 40, false));  // labels only: features not read
  EXPECT_TRUE(contains_all(error_of([&] { Shard::load(spec, 20, 40); }),
                           {spec.path, "'/features'", "row 23 ", "nan", "value 4 of the row",
                            "expected finite numbers"}));
}

TEST(InputChecks, InfFeaturesAndTargetsAreErrors) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("inf.h5")};
  write_dataset(spec, float_rows(10, 0, -std::numeric_limits<float>::infinity()));
  EXPECT_TRUE(contains_all(error_of([&] { Shard::load(spec, 0, 10); }),
                           {spec.path, "'/features'", "row 0 ", "-inf"}));

  DatasetArrays t = float_rows(10, -1, 0);
  t.labels.clear();
  t.label_kind = LabelKind::kTargets;
  t.target_dim = 2;
  t.targets.assign(20, 0.5f);
  t.targets[15] = std::numeric_limits<float>::infinity();  // row 7
  const DatasetSpec tspec{dir.file("targets.h5")};
  write_dataset(tspec, t);
  EXPECT_TRUE(contains_all(error_of([&] { Shard::load(tspec, 0, 10); }),
                           {tspec.path, "'/labels'", "row 7 ", "inf"}));
}

TEST(InputChecks, StreamedPiecesAreCheckedToo) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("nan_stream.h5")};
  write_dataset(spec, float_rows(200, 150, std::numeric_limits<float>::quiet_NaN()));
  PipelineOptions options;
  options.batch_size = 4;
  options.shuffle = false;
  options.memory_bytes = 6 * 4 * 28 + 16 * 28;  // 4 slots and a few rows: streamed
  BatchPipeline pipe(spec, 200, 1, 0, Normalization{}, options);
  ASSERT_EQ(pipe.mode(), PipelineMode::kStream);
  pipe.start_epoch(0);
  const std::string message = error_of([&] {
    for (int64_t s = 0; s < pipe.steps_per_epoch(); ++s) pipe.next();
  });
  EXPECT_TRUE(contains_all(message, {spec.path, "'/features'", "row 150 ", "nan"}));
}

TEST(InputChecks, InMemoryArraysAreChecked) {
  const DatasetArrays a = float_rows(8, 5, std::numeric_limits<float>::quiet_NaN());
  EXPECT_NO_THROW(Shard::from_arrays("input.csv", a, 0, 5));
  EXPECT_TRUE(contains_all(error_of([&] { Shard::from_arrays("input.csv", a, 0, 8); }),
                           {"input.csv", "row 5 ", "nan"}));
}

TEST(InputChecks, CsvImportRefusesValuesOutsideFloat32) {
  TempFolder dir;
  test::write_text(dir.file("big.csv"), "a,b,label\n1,2,x\n3,1e39,y\n");
  const CsvOptions options;
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("big.csv"), options); }),
                           {"big.csv", ":3", "column 'b'", "1e39", "float32"}));
  test::write_text(dir.file("nan.csv"), "a,b,label\n1,2,x\n3,nan,y\n");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("nan.csv"), options); }),
                           {"nan.csv", ":3", "column 'b'", "not a finite number"}));
}

TEST(InputChecks, UndecodableFilterIsNamedAtOpen) {
  TempFolder dir;
  const std::string path = dir.file("lzf.h5");
  // A stand-in for h5py's LZF (filter 32000): registered to write the file,
  // unregistered before reading it, as in an HDF5 without the LZF plugin.
  const H5Z_class2_t lzf = {
      H5Z_CLASS_T_VERS,
      32000,
      1,
      1,
      "lzf",
      nullptr,
      nullptr,
      [](unsigned, size_t, const unsigned[], size_t n, size_t*, void**) -> size_t { return n; }};
  ASSERT_GE(H5Zregister(&lzf), 0);
  {
    test::RawFile f(path);
    h5::PropList dcpl{H5Pcreate(H5P_DATASET_CREATE)};
    const hsize_t chunk[1] = {8}, dims[1] = {16};
    H5Pset_chunk(dcpl.get(), 1, chunk);
    H5Pset_filter(dcpl.get(), 32000, H5Z_FLAG_MANDATORY, 0, nullptr);
    const std::vector<float> x(16 * 4, 0.5f);
    f.add("/features", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {16, 4}, x.data());
    h5::Dataspace space{H5Screate_simple(1, dims, nullptr)};
    h5::Dataset ds{H5Dcreate2(f.get(), "/labels", H5T_STD_I32LE, space.get(), H5P_DEFAULT,
                              dcpl.get(), H5P_DEFAULT)};
    const std::vector<int32_t> y(16, 1);
    ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y.data()), 0);
  }
  ASSERT_GE(H5Zunregister(32000), 0);
  const DatasetSpec spec{path};
  for (const std::string& message :
       {error_of([&] { probe_dataset(spec); }), error_of([&] { Shard::load(spec, 0, 16); })}) {
    EXPECT_TRUE(contains_all(message, {path, "'/labels'", "filter 32000 (lzf)", "cannot decode"}));
  }
  // Features only (prediction inputs): the labels are not opened, so not checked.
  EXPECT_NO_THROW(probe_dataset(DatasetSpec{path, "/features", ""}));
}

TEST(InputChecks, ClassNamesAttributeIsPartOfTheSchema) {
  TempFolder dir;
  DatasetArrays a = float_rows(6, -1, 0);
  const DatasetSpec plain{dir.file("plain.h5")};
  write_dataset(plain, a);
  EXPECT_TRUE(probe_dataset(plain).class_names.empty());
  a.class_names = {"cat", "dog", "eel"};
  const DatasetSpec named{dir.file("named.h5")};
  write_dataset(named, a);
  EXPECT_EQ(probe_dataset(named).class_names, a.class_names);
  EXPECT_EQ(Shard::load(named, 0, 3).info().class_names, a.class_names);
}

}  // namespace
}  // namespace lockstep::io
