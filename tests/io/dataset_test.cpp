// Dataset writer/reader: round trips, hyperslab shards, normalisation, and one
// test per validation error (each checks the file name and the key words).

#include "io/dataset.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "io/hdf5.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;
using test::RawFile;
using test::TempFolder;

// N samples of `shape`, uint8 values that encode (row, element), class ids row % 7.
DatasetArrays uint8_arrays(int64_t n, std::vector<int64_t> shape) {
  DatasetArrays a;
  a.sample_shape = std::move(shape);
  a.feature_type = FeatureType::kUint8;
  int64_t size = 1;
  for (int64_t d : a.sample_shape) size *= d;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < size; ++j)
      a.features_u8.push_back(static_cast<uint8_t>((r * 31 + j * 7) % 256));
    a.labels.push_back(static_cast<int32_t>(r % 7));
  }
  return a;
}

DatasetArrays float_target_arrays(int64_t n, int64_t features, int64_t k) {
  DatasetArrays a;
  a.sample_shape = {features};
  a.feature_type = FeatureType::kFloat32;
  a.label_kind = LabelKind::kTargets;
  a.target_dim = k;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < features; ++j)
      a.features_f32.push_back(0.5f * static_cast<float>(r) - static_cast<float>(j));
    for (int64_t j = 0; j < k; ++j)
      a.targets.push_back(static_cast<float>(r) + 0.25f * static_cast<float>(j));
  }
  return a;
}

std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> rows(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), int64_t{0});
  return rows;
}

Normalization identity() {
  Normalization norm;
  norm.scale = 1.0;
  return norm;
}

TEST(Dataset, RoundTripUint8ClassIdsRank4) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("images.h5")};
  auto arrays = uint8_arrays(50, {3, 4, 5});
  arrays.class_names = {"a", "b", "c", "d", "e", "f", "g"};
  write_dataset(spec, arrays);

  const DatasetInfo info = probe_dataset(spec);
  EXPECT_EQ(info.path, spec.path);
  EXPECT_EQ(info.num_samples, 50);
  EXPECT_EQ(info.sample_shape, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(info.sample_size(), 60);
  EXPECT_EQ(info.feature_type, FeatureType::kUint8);
  EXPECT_EQ(info.label_kind, LabelKind::kClassIds);
  EXPECT_EQ(info.target_dim, 1);

  const Shard shard = Shard::load(spec, 0, 50);
  const auto rows = all_rows(50);
  std::vector<float> x(50 * 60);
  shard.gather_features(rows, identity(), x);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], static_cast<float>(arrays.features_u8[i]));
  std::vector<int32_t> y(50);
  shard.gather_labels(rows, y);
  EXPECT_EQ(y, arrays.labels);
  EXPECT_NO_THROW(shard.check_labels(7, spec));

  // Format attributes, chunking along N and gzip.
  h5::File file{H5Fopen(spec.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)};
  EXPECT_EQ(h5::read_string_attribute(file.get(), "lockstep_format"), "dataset/1");
  EXPECT_EQ(h5::read_strings_attribute(file.get(), "class_names"), arrays.class_names);
  h5::Dataset ds{H5Dopen2(file.get(), "/features", H5P_DEFAULT)};
  h5::PropList dcpl{H5Dget_create_plist(ds.get())};
  EXPECT_EQ(H5Pget_layout(dcpl.get()), H5D_CHUNKED);
  hsize_t chunk[4] = {0, 0, 0, 0};
  ASSERT_EQ(H5Pget_chunk(dcpl.get(), 4, chunk), 4);
  EXPECT_EQ(chunk[0], 50u);  // 60-byte rows: the whole (small) dataset is one chunk
  EXPECT_EQ(chunk[1], 3u);
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
    unsigned flags = 0;
    size_t n = 1;
    unsigned level = 0;
    EXPECT_EQ(H5Pget_filter_by_id2(dcpl.get(), H5Z_FILTER_DEFLATE, &flags, &n, &level, 0, nullptr,
                                   nullptr),
              0);
    EXPECT_EQ(level, 4u);
  }
}

TEST(Dataset, RoundTripFloat32Targets) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("tab.h5"), "/x", "/y"};
  const auto arrays = float_target_arrays(33, 7, 3);
  write_dataset(spec, arrays);
  const DatasetInfo info = probe_dataset(spec);
  EXPECT_EQ(info.num_samples, 33);
  EXPECT_EQ(info.sample_shape, (std::vector<int64_t>{7}));
  EXPECT_EQ(info.feature_type, FeatureType::kFloat32);
  EXPECT_EQ(info.label_kind, LabelKind::kTargets);
  EXPECT_EQ(info.target_dim, 3);

  const Shard shard = Shard::load(spec, 0, 33);
  std::vector<float> x(33 * 7);
  shard.gather_features(all_rows(33), Normalization{}, x);  // float32: default scale 1
  EXPECT_EQ(x, arrays.features_f32);
  std::vector<float> t(33 * 3);
  shard.gather_targets(all_rows(33), t);
  EXPECT_EQ(t, arrays.targets);
  std::vector<int32_t> ids(33);
  EXPECT_TRUE(contains_all(error_of([&] { shard.gather_labels(all_rows(33), ids); }),
                           {"tab.h5", "class ids"}));
}

TEST(Dataset, FeaturesOnlyAndShardsOfInMemoryArrays) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("tab.h5"), "/x", "/y"};
  const auto arrays = float_target_arrays(33, 7, 3);
  write_dataset(spec, arrays);
  const DatasetSpec features_only{spec.path, "/x", ""};
  EXPECT_FALSE(probe_dataset(features_only).has_labels);
  const Shard from_file = Shard::load(features_only, 10, 20);
  const Shard from_memory = Shard::from_arrays("memory", arrays, 10, 20);
  EXPECT_EQ(from_memory.size(), 10);
  EXPECT_EQ(from_memory.begin(), 10);
  std::vector<float> a(10 * 7), b(10 * 7);
  const Normalization norm{2.0, {1.0}, {4.0}};
  from_file.gather_features(all_rows(10), norm, a);
  from_memory.gather_features(all_rows(10), norm, b);
  EXPECT_EQ(a, b);
  EXPECT_FLOAT_EQ(a[0], (arrays.features_f32[70] * 2.0f - 1.0f) / 4.0f);
  std::vector<float> t(10 * 3);
  from_memory.gather_targets(all_rows(10), t);
  EXPECT_EQ(t, std::vector<float>(arrays.targets.begin() + 30, arrays.targets.begin() + 60));
  // Without a labels dataset the labels name is not needed at all.
  const DatasetSpec missing_labels{spec.path, "/x", "/nope"};
  EXPECT_TRUE(contains_all(error_of([&] { probe_dataset(missing_labels); }), {"'/nope'"}));
  EXPECT_TRUE(contains_all(error_of([&] { Shard::from_arrays("memory", arrays, 30, 34); }),
                           {"memory", "[30, 34)", "33"}));
}

TEST(Dataset, NestedNamesCreateGroups) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("nested.h5"), "/data/train/x", "/data/train/y"};
  write_dataset(spec, uint8_arrays(4, {2, 2}));
  EXPECT_EQ(probe_dataset(spec).num_samples, 4);
}

TEST(Dataset, HyperslabShardHoldsTheRightRows) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("big.h5")};
  // 12 KiB rows: about 85 rows per chunk, so the shard spans several chunks.
  const auto arrays = uint8_arrays(300, {3, 64, 64});
  write_dataset(spec, arrays);
  const int64_t begin = 97;
  const int64_t end = 251;
  const Shard shard = Shard::load(spec, begin, end);
  EXPECT_EQ(shard.begin(), begin);
  EXPECT_EQ(shard.size(), end - begin);
  EXPECT_EQ(shard.info().num_samples, 300);
  const int64_t sample = shard.info().sample_size();
  // Gather in a scrambled order to check the row mapping too.
  std::vector<int64_t> rows{5, 0, 153, 77, 1};
  std::vector<float> x(rows.size() * static_cast<size_t>(sample));
  shard.gather_features(rows, identity(), x);
  std::vector<int32_t> y(rows.size());
  shard.gather_labels(rows, y);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto global = static_cast<size_t>(begin + rows[i]);
    EXPECT_EQ(y[i], arrays.labels[global]);
    for (int64_t j = 0; j < sample; ++j) {
      ASSERT_EQ(
          x[i * static_cast<size_t>(sample) + static_cast<size_t>(j)],
          static_cast<float>(
              arrays.features_u8[global * static_cast<size_t>(sample) + static_cast<size_t>(j)]))
          << "row " << rows[i] << " element " << j;
    }
  }
}

TEST(Dataset, PerChannelNormalisation) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("rgb.h5")};
  const auto arrays = uint8_arrays(6, {3, 2, 2});
  write_dataset(spec, arrays);
  const Shard shard = Shard::load(spec, 2, 6);
  Normalization norm;  // default scale 1/255 for uint8
  norm.mean = {0.5, 0.4, 0.3};
  norm.std = {0.2, 0.25, 0.5};
  const std::vector<int64_t> rows{3, 1};
  std::vector<float> x(2 * 12);
  shard.gather_features(rows, norm, x);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < 12; ++j) {
      const size_t c = j / 4;
      const double raw = arrays.features_u8[static_cast<size_t>(2 + rows[i]) * 12 + j];
      const double expected = (raw / 255.0 - norm.mean[c]) / norm.std[c];
      EXPECT_NEAR(x[i * 12 + j], expected, 1e-5 + 1e-5 * std::abs(expected));
    }
  }
  // One mean for all channels, explicit scale.
  Normalization single;
  single.scale = 2.0;
  single.mean = {1.0};
  single.std = {4.0};
  shard.gather_features(rows, single, x);
  const double raw0 = arrays.features_u8[5 * 12];
  EXPECT_NEAR(x[0], (raw0 * 2.0 - 1.0) / 4.0, 1e-5);
}

TEST(Dataset, GatherValidatesSizes) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("rgb.h5")};
  write_dataset(spec, uint8_arrays(6, {3, 2, 2}));
  const Shard shard = Shard::load(spec, 0, 6);
  const std::vector<int64_t> rows{0, 1};
  std::vector<float> x(24);
  Normalization norm;
  norm.mean = {0.1, 0.2};
  EXPECT_TRUE(contains_all(error_of([&] { shard.gather_features(rows, norm, x); }),
                           {"mean has 2 values", "expected 1 or 3"}));
  norm.mean = {0.0};
  norm.std = {1.0, 0.0, 1.0};
  EXPECT_TRUE(contains_all(error_of([&] { shard.gather_features(rows, norm, x); }), {"std 0"}));
  std::vector<float> small(23);
  EXPECT_TRUE(contains_all(error_of([&] { shard.gather_features(rows, Normalization{}, small); }),
                           {"23", "24"}));
  const std::vector<int64_t> bad_rows{0, 6};
  EXPECT_TRUE(contains_all(error_of([&] { shard.gather_features(bad_rows, Normalization{}, x); }),
                           {"row 6", "< 6"}));
  std::vector<int32_t> y(1);
  EXPECT_TRUE(contains_all(error_of([&] { shard.gather_labels(rows, y); }), {"1", "2"}));
  std::vector<float> t(2);
  EXPECT_TRUE(
      contains_all(error_of([&] { shard.gather_targets(rows, t); }), {"rgb.h5", "float targets"}));
}

TEST(Dataset, CheckLabelsNamesTheRow) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("bad_ids.h5")};
  auto arrays = uint8_arrays(20, {1, 2});
  arrays.labels[13] = 10;
  write_dataset(spec, arrays);
  const Shard shard = Shard::load(spec, 10, 20);
  EXPECT_TRUE(contains_all(error_of([&] { shard.check_labels(10, spec); }),
                           {"bad_ids.h5", "/labels", "row 13", "class id 10", "< 10"}));
  EXPECT_NO_THROW(shard.check_labels(11, spec));
}

TEST(Dataset, AnyIntegerLabelTypeReadsAsInt32) {
  TempFolder dir;
  const std::vector<uint8_t> x(4 * 2, 1);
  const std::vector<int64_t> y64{0, 5, 2, 9};
  const std::vector<double> t64{0.5, -1.5, 2.0, 3.25};
  {
    RawFile f(dir.file("i64.h5"));
    f.add("/features", H5T_STD_U8LE, H5T_NATIVE_UINT8, {4, 2}, x.data());
    f.add("/labels", H5T_STD_I64BE, H5T_NATIVE_INT64, {4}, y64.data());
    f.add("/t", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {4, 1}, t64.data());
  }
  const Shard ids = Shard::load(DatasetSpec{dir.file("i64.h5")}, 0, 4);
  std::vector<int32_t> y(4);
  ids.gather_labels(all_rows(4), y);
  EXPECT_EQ(y, (std::vector<int32_t>{0, 5, 2, 9}));
  const Shard targets = Shard::load(DatasetSpec{dir.file("i64.h5"), "/features", "/t"}, 1, 4);
  EXPECT_EQ(targets.info().label_kind, LabelKind::kTargets);
  std::vector<float> t(3);
  targets.gather_targets(all_rows(3), t);
  EXPECT_EQ(t, (std::vector<float>{-1.5f, 2.0f, 3.25f}));
}

// Open HDF5 objects of every file: files, groups, datasets, named datatypes and
// attributes (dataspaces have no public counter; they live in the same RAII
// owners, so a leak of one kind would show in the others' code paths too).
std::vector<ssize_t> open_objects() {
  std::vector<ssize_t> counts;
  for (unsigned kind :
       {H5F_OBJ_FILE, H5F_OBJ_GROUP, H5F_OBJ_DATASET, H5F_OBJ_DATATYPE, H5F_OBJ_ATTR}) {
    counts.push_back(H5Fget_obj_count(H5F_OBJ_ALL, kind));
  }
  return counts;
}

TEST(Dataset, NoHandleLeaksOnSuccessOrError) {
  TempFolder dir;
  const DatasetSpec spec{dir.file("leak.h5")};
  write_dataset(spec, uint8_arrays(20, {2, 3}));
  const auto before = open_objects();
  for (int i = 0; i < 3; ++i) {
    write_dataset(spec, uint8_arrays(20, {2, 3}));
    probe_dataset(spec);
    const Shard shard = Shard::load(spec, 3, 17);
    EXPECT_THROW(probe_dataset(DatasetSpec{spec.path, "/features", "/nope"}), Error);
    EXPECT_THROW(Shard::load(spec, 0, 21), Error);
    EXPECT_THROW(write_dataset(DatasetSpec{spec.path, "/a", "/a/b"}, uint8_arrays(2, {1})), Error);
  }
  EXPECT_EQ(open_objects(), before);
  EXPECT_EQ(before[0], 0);  // no file left open
}

// ------------------------------------------------------------ validation errors

class DatasetErrors : public testing::Test {
 protected:
  std::string probe_error(const std::string& name, const DatasetSpec* custom = nullptr) {
    const DatasetSpec spec = custom != nullptr ? *custom : DatasetSpec{dir_.file(name)};
    return error_of([&] { probe_dataset(spec); });
  }
  TempFolder dir_;
  std::vector<uint8_t> x_ = std::vector<uint8_t>(10 * 4, 3);
  std::vector<float> xf_ = std::vector<float>(10 * 4, 0.5f);
  std::vector<int32_t> y_ = std::vector<int32_t>(10, 1);
};

TEST_F(DatasetErrors, MissingFile) {
  EXPECT_TRUE(contains_all(probe_error("nope.h5"), {"nope.h5", "no such file"}));
}

TEST_F(DatasetErrors, NotHdf5) {
  test::write_text(dir_.file("text.h5"), "features,labels\n1,2\n");
  EXPECT_TRUE(contains_all(probe_error("text.h5"), {"text.h5", "not an HDF5 file"}));
}

TEST_F(DatasetErrors, MissingLabelsListsWhatIsThere) {
  {
    RawFile f(dir_.file("x.h5"));
    f.add("/features", H5T_STD_U8LE, H5T_NATIVE_UINT8, {10, 4}, x_.data());
    f.add("/y", H5T_STD_I32LE, H5T_NATIVE_INT32, {10}, y_.data());
  }
  const std::string msg = probe_error("x.h5");
  EXPECT_TRUE(contains_all(
      msg, {"x.h5'", "no dataset '/labels'",
            "expected integer class ids (N,) or float targets (N,k)", "found: /features, /y"}));
}

TEST_F(DatasetErrors, MissingFeatures) {
  {
    RawFile f(dir_.file("x.h5"));
    f.add("/group/data", H5T_STD_U8LE, H5T_NATIVE_UINT8, {10, 4}, x_.data());
    f.add("/labels", H5T_STD_I32LE, H5T_NATIVE_INT32, {10}, y_.data());
  }
  EXPECT_TRUE(contains_all(probe_error("x.h5"),
                           {"x.h5", "no dataset '/features'", "found: /group/data, /labels"}));
  const DatasetSpec spec{dir_.file("x.h5"), "/group/missing/deeper", "/labels"};
  EXPECT_TRUE(contains_all(probe_error("", &spec), {"no dataset '/group/missing/deeper'"}));
}

TEST_F(DatasetErrors, FeaturesRank1) {
  {
    RawFile f(dir_.file("x.h5"));
    f.add("/features", H5T_STD_U8LE, H5T_NATIVE_UINT8, {10}, x_.data());
    f.add("/labels", H5T_STD_I32LE, H5T_NATIVE_INT32, {10}, y_.data());
  }
  EXPECT_TRUE(contains_all(probe_error("x.h5"), {"x.h5", "/features", "(10,)", "rank >= 2"}));
}

TEST_F(DatasetErrors, FeatureDtype) {
  const std::vector<int16_t> x16(40, 1);
  {
    RawFile f(dir_.file("x.h5"));
    f.add("/features", H5T_STD_I16LE, H5T_NATIVE_INT16, {10, 4}, x16.data());
    f.add("/labels", H5T_STD_I32LE, H5T_NATIVE_INT32, {10}, y_.data());
  }
  EXPECT_TRUE(
      contains_all(probe_error("x.h5"), {"x.h5", "/features", "int16", "uint8 or float32"}));
}

TEST_F(DatasetErrors, LabelDtypeAndRank) {
  const std::vector<float> y_float(10, 1.0f);
  {
    RawFile f(dir_.file("float_ids.h5"));
    f.add("/features", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {10, 4}, xf_.data());
    f.add("/labels", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {10}, y_float.data());
  }
  EXPECT_TRUE(contains_all(probe_error("float_ids.h5"),
                           {"float_ids.h5", "/labels", "float32", "(10,)",
                            "expected integer class ids (N,) or float targets (N,k)"}));
  const std::vector<int32_t> y2(20, 1);
  {
    RawFile f(dir_.file("int2d.h5"));
    f.add("/features", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {10, 4}, xf_.data());
    f.add("/labels", H5T_STD_I32LE, H5T_NATIVE_INT32, {10, 2}, y2.data());
  }
  EXPECT_TRUE(contains_all(probe_error("int2d.h5"), {"int2d.h5", "int32", "(10, 2)"}));
}

TEST_F(DatasetErrors, CountMismatch) {
  {
    RawFile f(dir_.file("x.h5"));
    f.add("/features", H5T_STD_U8LE, H5T_NATIVE_UINT8, {10, 4}, x_.data());
    f.add("/labels", H5T_STD_I32LE, H5T_NATIVE_INT32, {9}, y_.data());
  }
  EXPECT_TRUE(contains_all(probe_error("x.h5"), {"x.h5", "10 rows", "have 9", "count mismatch"}));
}

TEST_F(DatasetErrors, Empty) {
  {
    RawFile f(dir_.file("x.h5"));
    f.add("/features", H5T_STD_U8LE, H5T_NATIVE_UINT8, {0, 4}, nullptr);
    f.add("/labels", H5T_STD_I32LE, H5T_NATIVE_INT32, {0}, nullptr);
  }
  EXPECT_TRUE(contains_all(probe_error("x.h5"), {"x.h5", "empty", "(0, 4)"}));
}

TEST_F(DatasetErrors, ShardRange) {
  const DatasetSpec spec{dir_.file("ok.h5")};
  write_dataset(spec, uint8_arrays(10, {4}));
  EXPECT_TRUE(
      contains_all(error_of([&] { Shard::load(spec, 5, 11); }), {"ok.h5", "[5, 11)", "<= 10"}));
  EXPECT_TRUE(contains_all(error_of([&] { Shard::load(spec, 4, 3); }), {"[4, 3)"}));
  // An empty range (a rank without evaluation batches): no rows, the file's info.
  const Shard empty = Shard::load(spec, 3, 3);
  EXPECT_EQ(empty.size(), 0);
  EXPECT_EQ(empty.info().num_samples, 10);
}

TEST_F(DatasetErrors, WriterValidatesArrays) {
  const DatasetSpec spec{dir_.file("w.h5")};
  auto arrays = uint8_arrays(10, {4});
  arrays.labels.pop_back();
  EXPECT_TRUE(contains_all(error_of([&] { write_dataset(spec, arrays); }),
                           {"w.h5", "9 labels", "expected 10"}));
  auto empty = uint8_arrays(0, {4});
  EXPECT_TRUE(contains_all(error_of([&] { write_dataset(spec, empty); }), {"w.h5", "0 uint8"}));
  auto targets = float_target_arrays(5, 2, 3);
  targets.target_dim = 2;
  EXPECT_TRUE(contains_all(error_of([&] { write_dataset(spec, targets); }), {"15 target values"}));
  EXPECT_FALSE(std::filesystem::exists(spec.path));
}

TEST_F(DatasetErrors, AtomicWriteLeavesNoTemporaryAndKeepsOldFile) {
  const std::string path = (dir_.path() / "sub" / "dir" / "data.h5").string();
  write_dataset(DatasetSpec{path}, uint8_arrays(10, {4}));  // creates the folders
  EXPECT_EQ(probe_dataset(DatasetSpec{path}).num_samples, 10);
  write_dataset(DatasetSpec{path}, uint8_arrays(12, {4}));  // replaces it
  EXPECT_EQ(probe_dataset(DatasetSpec{path}).num_samples, 12);
  // A write that fails inside HDF5 (labels below a dataset) keeps the old file.
  const DatasetSpec broken{path, "/a", "/a/b"};
  EXPECT_TRUE(contains_all(error_of([&] { write_dataset(broken, uint8_arrays(3, {4})); }),
                           {"dataset file '", "data.h5': HDF5 call failed"}));
  EXPECT_EQ(probe_dataset(DatasetSpec{path}).num_samples, 12);
  std::vector<std::string> entries;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "sub" / "dir")) {
    entries.push_back(e.path().filename().string());
  }
  EXPECT_EQ(entries, (std::vector<std::string>{"data.h5"}));
}

}  // namespace
}  // namespace lockstep::io
