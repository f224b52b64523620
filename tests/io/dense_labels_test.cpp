// Per-pixel labels (N, H, W) and image layouts, through every reader:
// write_dataset -> probe / Shard::load (shards of several ranks) -> the input
// pipeline in both modes -> inspect. Exact answers by construction: the first
// feature value of a row is its row number, its label map a known function of
// (row, y, x). Channels-last files read equal to the NCHW file; a file that
// looks channels-last without saying so is an error naming file and shape.

#include <gtest/gtest.h>

#include <set>

#include "io/dataset.hpp"
#include "io/inspect.hpp"
#include "io/pipeline.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;
using test::TempFolder;

constexpr int64_t kC = 3, kH = 5, kW = 7, kClasses = 4;

int32_t label_of(int64_t row, int64_t y, int64_t x) {
  return static_cast<int32_t>((row + 2 * y + 3 * x) % kClasses);
}
float feature_of(int64_t row, int64_t c, int64_t y, int64_t x) {
  return c == 0 && y == 0 && x == 0 ? static_cast<float>(row)
                                    : static_cast<float>(row % 7 + c * 100 + y * 10 + x);
}

// (n, C, H, W) float features, stored (n, H, W, C) unless `layout` is kNchw
// (kAuto: channels-last without a layout attribute), and (n, H, W) labels.
DatasetArrays dense_arrays(int64_t n, Layout layout = Layout::kNchw) {
  DatasetArrays a;
  a.feature_type = FeatureType::kFloat32;
  a.layout = layout;
  a.sample_shape =
      layout != Layout::kNchw ? std::vector<int64_t>{kH, kW, kC} : std::vector<int64_t>{kC, kH, kW};
  a.label_shape = {kH, kW};
  for (int64_t r = 0; r < n; ++r) {
    if (layout != Layout::kNchw) {
      for (int64_t y = 0; y < kH; ++y)
        for (int64_t x = 0; x < kW; ++x)
          for (int64_t c = 0; c < kC; ++c) a.features_f32.push_back(feature_of(r, c, y, x));
    } else {
      for (int64_t c = 0; c < kC; ++c)
        for (int64_t y = 0; y < kH; ++y)
          for (int64_t x = 0; x < kW; ++x) a.features_f32.push_back(feature_of(r, c, y, x));
    }
    for (int64_t y = 0; y < kH; ++y)
      for (int64_t x = 0; x < kW; ++x) a.labels.push_back(label_of(r, y, x));
  }
  return a;
}

// Checks a batch: x (b, C, H, W) in NCHW with the features of its rows, y
// (b, H, W) their label maps. Returns the rows.
std::vector<int64_t> check_batch(const HostBatch& batch) {
  EXPECT_EQ(batch.y.shape(), (Shape{batch.x.dim(0), kH, kW}));
  EXPECT_EQ(batch.y.dtype(), DType::kI32);
  std::vector<int64_t> rows;
  const float* x = batch.x.data<float>();
  const int32_t* y = batch.y.data<int32_t>();
  for (int64_t i = 0; i < batch.x.dim(0); ++i) {
    const auto row = static_cast<int64_t>(x[i * kC * kH * kW]);
    rows.push_back(row);
    for (int64_t c = 0; c < kC; ++c)
      for (int64_t yy = 0; yy < kH; ++yy)
        for (int64_t xx = 0; xx < kW; ++xx)
          EXPECT_EQ(x[((i * kC + c) * kH + yy) * kW + xx], feature_of(row, c, yy, xx));
    for (int64_t yy = 0; yy < kH; ++yy)
      for (int64_t xx = 0; xx < kW; ++xx)
        EXPECT_EQ(y[(i * kH + yy) * kW + xx], label_of(row, yy, xx)) << "row " << row;
  }
  return rows;
}

TEST(DenseLabels, WriteProbeAndShardsOfSeveralRanks) {
  TempFolder dir;
  DatasetSpec spec{dir.file("seg.h5")};
  write_dataset(spec, dense_arrays(23));
  const DatasetInfo info = probe_dataset(spec);
  EXPECT_EQ(info.sample_shape, (std::vector<int64_t>{kC, kH, kW}));
  EXPECT_EQ(info.label_shape, (std::vector<int64_t>{kH, kW}));
  EXPECT_TRUE(info.per_pixel());
  EXPECT_EQ(info.label_size(), kH * kW);
  EXPECT_EQ(info.layout, Layout::kNchw);
  for (int world : {1, 2, 3}) {
    std::set<int64_t> seen;
    for (int rank = 0; rank < world; ++rank) {
      const RowRange r = shard_range(23, world, rank);
      const Shard shard = Shard::load(spec, r.begin, r.end);
      std::vector<int64_t> local(static_cast<size_t>(shard.size()));
      for (size_t i = 0; i < local.size(); ++i) local[i] = static_cast<int64_t>(i);
      std::vector<int32_t> ids(local.size() * kH * kW);
      shard.gather_labels(local, ids);
      for (size_t i = 0; i < local.size(); ++i) {
        const int64_t row = r.begin + static_cast<int64_t>(i);
        seen.insert(row);
        for (int64_t p = 0; p < kH * kW; ++p)
          ASSERT_EQ(ids[i * kH * kW + static_cast<size_t>(p)], label_of(row, p / kW, p % kW));
      }
      EXPECT_NO_THROW(shard.check_labels(kClasses, spec));
    }
    EXPECT_EQ(seen.size(), 23u) << world << " ranks";
  }
  // keep() moves whole label maps.
  Shard shard = Shard::load(spec, 4, 20);
  const std::vector<int64_t> keep{1, 5, 9};
  shard.keep(keep);
  std::vector<int32_t> ids(3 * kH * kW);
  shard.gather_labels(std::vector<int64_t>{0, 1, 2}, ids);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(ids[i * kH * kW + 8], label_of(4 + keep[i], 1, 1));
}

TEST(DenseLabels, PipelineBatchesInBothModesOnSeveralRanks) {
  TempFolder dir;
  DatasetSpec spec{dir.file("seg.h5")};
  const int64_t n = 61;
  write_dataset(spec, dense_arrays(n));
  for (int world : {1, 2, 3}) {
    for (bool stream : {false, true}) {
      std::set<int64_t> all;
      for (int rank = 0; rank < world; ++rank) {
        PipelineOptions o;
        o.batch_size = 4;
        o.seed = 5;
        // 4 batch slots of 4 rows plus a 12-row shuffle buffer: every shard streams.
        o.memory_bytes = stream ? static_cast<size_t>(28 * (kC * kH * kW + kH * kW) * 4) : 0;
        BatchPipeline pipe(spec, n, world, rank, Normalization{}, o);
        ASSERT_EQ(pipe.mode(), stream ? PipelineMode::kStream : PipelineMode::kMemory);
        const RowRange shard = pipe.shard();
        pipe.start_epoch(0);
        std::set<int64_t> rows;
        for (int64_t s = 0; s < pipe.steps_per_epoch(); ++s) {
          for (int64_t r : check_batch(pipe.next())) {
            EXPECT_TRUE(r >= shard.begin && r < shard.end) << r;
            EXPECT_TRUE(rows.insert(r).second) << "row " << r << " twice";
          }
        }
        all.insert(rows.begin(), rows.end());
      }
      EXPECT_GE(static_cast<int64_t>(all.size()), n - 4 * world) << world << " ranks";
    }
  }
}

TEST(DenseLabels, ClassIdsOutOfRangeNameRowAndPixelUnlessIgnored) {
  TempFolder dir;
  DatasetSpec spec{dir.file("bad.h5")};
  DatasetArrays a = dense_arrays(6);
  a.labels[static_cast<size_t>(4 * kH * kW + 2 * kW + 3)] = 255;  // row 4, y 2, x 3
  write_dataset(spec, a);
  const Shard shard = Shard::load(spec, 0, 6);
  EXPECT_TRUE(contains_all(error_of([&] { shard.check_labels(kClasses, spec); }),
                           {"bad.h5", "/labels", "row 4", "y 2, x 3", "255", "0 <= id < 4"}));
  a.ignore_index = 255;
  DatasetSpec ignored{dir.file("ignored.h5")};
  write_dataset(ignored, a);
  const Shard ok = Shard::load(ignored, 0, 6);
  EXPECT_EQ(ok.info().ignore_index, std::optional<int32_t>(255));
  EXPECT_NO_THROW(ok.check_labels(kClasses, ignored));
  EXPECT_EQ(ok.max_class_id(), (std::pair<int32_t, int64_t>{3, 0}));  // 255 is not a class
  EXPECT_EQ(shard.max_class_id(), (std::pair<int32_t, int64_t>{255, 4}));
  a.labels[5] = 9;
  DatasetSpec nine{dir.file("nine.h5")};
  write_dataset(nine, a);
  EXPECT_TRUE(contains_all(error_of([&] { Shard::load(nine, 0, 6).check_labels(kClasses, nine); }),
                           {"nine.h5", "row 0", "y 0, x 5", "class id 9", "ignore_index 255"}));
}

TEST(DenseLabels, LabelMapsMustMatchTheImages) {
  TempFolder dir;
  DatasetArrays a = dense_arrays(3);
  a.label_shape = {kW, kH};  // transposed: 7x5 maps for 5x7 images
  DatasetSpec spec{dir.file("wrong.h5")};
  write_dataset(spec, a);
  EXPECT_TRUE(
      contains_all(error_of([&] { probe_dataset(spec); }),
                   {"wrong.h5", "/labels", "(3, 7, 5)", "(3, 5, 7)", "one label per pixel"}));
}

TEST(DenseLabels, NhwcFilesReadEqualToNchw) {
  TempFolder dir;
  const int64_t n = 29;
  DatasetSpec nchw{dir.file("nchw.h5")};
  write_dataset(nchw, dense_arrays(n, Layout::kNchw));
  DatasetSpec nhwc{dir.file("nhwc.h5")};
  write_dataset(nhwc, dense_arrays(n, Layout::kNhwc));  // attribute layout = "nhwc"
  DatasetSpec bare{dir.file("bare.h5")};
  write_dataset(bare, dense_arrays(n, Layout::kAuto));  // (H, W, C) = (5, 7, 3), no attribute
  const DatasetInfo info = probe_dataset(nhwc);
  EXPECT_EQ(info.layout, Layout::kNhwc);
  EXPECT_EQ(info.sample_shape, (std::vector<int64_t>{kC, kH, kW}));
  EXPECT_EQ(info.file_sample_shape, (std::vector<int64_t>{kH, kW, kC}));
  // Auto without an attribute: (5, 7, 3) looks channels-last.
  EXPECT_TRUE(contains_all(
      error_of([&] { probe_dataset(bare); }),
      {"bare.h5", "(5, 7, 3)", "channels-last", "data.layout = nhwc", "layout = \"nhwc\""}));
  DatasetSpec bare_nhwc = bare;
  bare_nhwc.layout = Layout::kNhwc;
  DatasetSpec wrong = nhwc;
  wrong.layout = Layout::kNchw;
  EXPECT_TRUE(contains_all(error_of([&] { probe_dataset(wrong); }),
                           {"nhwc.h5", "data.layout = nchw", "layout = \"nhwc\""}));
  std::vector<int64_t> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = i;
  const auto features = [&](const DatasetSpec& s) {
    std::vector<float> out(static_cast<size_t>(n * kC * kH * kW));
    Shard::load(s, 0, n).gather_features(rows, Normalization{}, out);
    return out;
  };
  const auto reference = features(nchw);
  EXPECT_EQ(features(nhwc), reference);
  EXPECT_EQ(features(bare_nhwc), reference);
  // The streaming reader transposes too.
  PipelineOptions o;
  o.batch_size = 5;
  o.shuffle = false;
  o.memory_bytes = static_cast<size_t>(31 * (kC * kH * kW + kH * kW) * 4);  // 20 slot rows + 11
  BatchPipeline a(nchw, n, 2, 1, Normalization{}, o);
  BatchPipeline b(bare_nhwc, n, 2, 1, Normalization{}, o);
  ASSERT_EQ(b.mode(), PipelineMode::kStream);
  a.start_epoch(0);
  b.start_epoch(0);
  for (int64_t s = 0; s < a.steps_per_epoch(); ++s) {
    const HostBatch& x = a.next();
    const std::vector<float> want(x.x.data<float>(), x.x.data<float>() + x.x.numel());
    const HostBatch& y = b.next();
    check_batch(y);
    EXPECT_EQ(std::vector<float>(y.x.data<float>(), y.x.data<float>() + y.x.numel()), want);
  }
}

TEST(DenseLabels, InspectShowsLabelMapsAndLayout) {
  TempFolder dir;
  DatasetArrays a = dense_arrays(4, Layout::kNhwc);
  a.class_names = {"road", "car", "person", "sky"};
  a.ignore_index = 255;
  write_dataset(DatasetSpec{dir.file("seg.h5")}, a);
  const std::string text = describe_file(dir.file("seg.h5"));
  EXPECT_TRUE(
      contains_all(text, {"sample shape: (3, 5, 7)", "stored nhwc", "class ids per pixel (5, 7)",
                          "0..3", "ignore_index 255", "@layout = \"nhwc\"", "\"road\""}))
      << text;
}

}  // namespace
}  // namespace lockstep::io
