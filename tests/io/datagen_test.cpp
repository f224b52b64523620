// Synthetic datasets: schema, determinism, class seeds, chunked layout, errors.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "io/datagen.hpp"
#include "io/dataset.hpp"

namespace lockstep::io {
namespace {

std::string temp(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("lockstep_datagen_" + std::to_string(getpid()) + "_" + name))
      .string();
}

TEST(Datagen, WritesAValidDeterministicDataset) {
  DatagenOptions o;
  o.path = temp("a.h5");
  o.samples = 300;
  o.shape = {3, 16, 20};
  o.classes = 7;
  o.seed = 5;
  generate_image_dataset(o);
  const DatasetInfo info = probe_dataset({o.path});
  EXPECT_EQ(info.num_samples, 300);
  EXPECT_EQ(info.sample_shape, (std::vector<int64_t>{3, 16, 20}));
  EXPECT_EQ(info.feature_type, FeatureType::kUint8);
  const Shard all = Shard::load({o.path}, 0, 300);
  EXPECT_NO_THROW(all.check_labels(7, {o.path}));
  // Rows are a function of (seed, row): a second file is identical, and a
  // shard read returns exactly those rows.
  DatagenOptions again = o;
  again.path = temp("b.h5");
  generate_image_dataset(again);
  const Shard other = Shard::load({again.path}, 100, 200);
  std::vector<int64_t> rows(100);
  for (int64_t i = 0; i < 100; ++i) rows[static_cast<size_t>(i)] = i;
  std::vector<float> a(100 * 960), b(100 * 960);
  std::vector<int64_t> shifted(100);
  for (int64_t i = 0; i < 100; ++i) shifted[static_cast<size_t>(i)] = 100 + i;
  all.gather_features(shifted, {}, a);
  other.gather_features(rows, {}, b);
  EXPECT_EQ(a, b);
  std::vector<int32_t> la(100), lb(100);
  all.gather_labels(shifted, la);
  other.gather_labels(rows, lb);
  EXPECT_EQ(la, lb);
  // Every class occurs.
  std::vector<int32_t> ids(300);
  std::vector<int64_t> every(300);
  for (int64_t i = 0; i < 300; ++i) every[static_cast<size_t>(i)] = i;
  all.gather_labels(every, ids);
  for (int32_t k = 0; k < 7; ++k) EXPECT_NE(std::find(ids.begin(), ids.end(), k), ids.end());
  std::filesystem::remove(o.path);
  std::filesystem::remove(again.path);
}

TEST(Datagen, ParsesShapesAndRejectsBadOptions) {
  EXPECT_EQ(parse_shape("3x64x64"), (std::vector<int64_t>{3, 64, 64}));
  EXPECT_THROW(parse_shape("3x64"), lockstep::Error);
  EXPECT_THROW(parse_shape("3xax64"), lockstep::Error);
  DatagenOptions o;
  o.path = temp("bad.h5");
  o.samples = 0;
  EXPECT_THROW(generate_image_dataset(o), lockstep::Error);
  o.samples = 10;
  o.classes = 1;
  EXPECT_THROW(generate_image_dataset(o), lockstep::Error);
  EXPECT_FALSE(std::filesystem::exists(o.path));
}

}  // namespace
}  // namespace lockstep::io
