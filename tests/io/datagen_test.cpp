// Synthetic datasets: schema, determinism, what the seed and the class seed
// each change, chunked layout, errors.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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

// A dataset's features and labels, read whole (float32 features in [0, 1]).
struct Contents {
  std::vector<float> features;
  std::vector<int32_t> labels;
};

Contents generate(uint64_t seed, uint64_t class_seed, const std::string& name) {
  DatagenOptions o;
  o.path = temp(name);
  o.samples = 2000;
  o.shape = {1, 12, 12};
  o.classes = 4;
  o.seed = seed;
  o.class_seed = class_seed;
  o.noise = 0.0;  // a sample is its class's blobs at random weights, nothing else
  o.max_shift = 0;
  o.dtype = FeatureType::kFloat32;
  generate_image_dataset(o);
  const Shard all = Shard::load({o.path}, 0, o.samples);
  std::vector<int64_t> rows(static_cast<size_t>(o.samples));
  for (int64_t i = 0; i < o.samples; ++i) rows[static_cast<size_t>(i)] = i;
  Contents c;
  c.features.resize(static_cast<size_t>(o.samples * 144));
  c.labels.resize(static_cast<size_t>(o.samples));
  all.gather_features(rows, {}, c.features);
  all.gather_labels(rows, c.labels);
  std::filesystem::remove(o.path);
  return c;
}

// Mean image of each class (classes x 144).
std::vector<double> class_means(const Contents& c) {
  std::vector<double> mean(4 * 144, 0.0);
  std::vector<int64_t> count(4, 0);
  for (size_t r = 0; r < c.labels.size(); ++r) {
    const auto k = static_cast<size_t>(c.labels[r]);
    ++count[k];
    for (size_t i = 0; i < 144; ++i) mean[k * 144 + i] += c.features[r * 144 + i];
  }
  for (size_t k = 0; k < 4; ++k)
    for (size_t i = 0; i < 144; ++i) mean[k * 144 + i] /= static_cast<double>(count[k]);
  return mean;
}

// The largest over classes of |mean_a(k) - mean_b(k)| / |mean_a(k)| (L2 norms).
double class_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0.0;
  for (size_t k = 0; k < 4; ++k) {
    double d = 0.0, n = 0.0;
    for (size_t i = 0; i < 144; ++i) {
      d += (a[k * 144 + i] - b[k * 144 + i]) * (a[k * 144 + i] - b[k * 144 + i]);
      n += a[k * 144 + i] * a[k * 144 + i];
    }
    worst = std::max(worst, std::sqrt(d / n));
  }
  return worst;
}

// The seed draws the samples (which class each row is, which blobs it shows and
// how strongly); the class seed draws what the classes look like. So files with
// the same class seed and other seeds (a train and a test file) share their
// classes: the mean image of each class agrees up to sampling noise (about 3%
// with 500 samples a class: a blob's weight has mean 0.75 and sd 0.5), while
// another class seed gives other classes (means about 100% apart).
TEST(Datagen, SeedDrawsSamplesAndClassSeedDrawsClasses) {
  const Contents a = generate(1, 7, "s1c7.h5");
  const Contents other_seed = generate(2, 7, "s2c7.h5");
  const Contents other_classes = generate(1, 8, "s1c8.h5");
  // Another seed: other samples, other labels.
  EXPECT_NE(a.labels, other_seed.labels);
  EXPECT_NE(a.features, other_seed.features);
  // Another class seed: the same rows look different.
  EXPECT_NE(a.features, other_classes.features);
  // Same class seed: the same classes; another one: other classes.
  const auto means = class_means(a);
  const double same = class_distance(means, class_means(other_seed));
  const double different = class_distance(means, class_means(other_classes));
  std::printf("class means %.3f apart with another seed, %.3f with another class seed\n", same,
              different);
  EXPECT_LT(same, 0.1) << "the classes changed with the sample seed";
  EXPECT_GT(different, 0.4) << "the classes did not change with the class seed";
  // And the same (seed, class seed) again gives the same file contents.
  const Contents again = generate(1, 7, "s1c7_again.h5");
  EXPECT_EQ(a.features, again.features);
  EXPECT_EQ(a.labels, again.labels);
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
