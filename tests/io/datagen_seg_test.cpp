// datagen --task segmentation | road: deterministic from the seed, masks that
// label every item pixel with the item's class (the topmost item where they
// overlap) and nothing else, road scenes with sky on top and road at the
// bottom, and files the readers accept as per-pixel datasets.

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "io/datagen_seg.hpp"
#include "io/importers.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::TempFolder;

const std::string kFashion = "/usr/share/datasets/fashion-mnist";

SegDatagenOptions seg_options(const TempFolder& dir, const std::string& name) {
  SegDatagenOptions o;
  o.path = dir.file(name);
  o.samples = 40;
  o.height = 48;
  o.width = 40;
  o.seed = 3;
  o.fashion_images = kFashion + "/t10k-images-idx3-ubyte.gz";
  o.fashion_labels = kFashion + "/t10k-labels-idx1-ubyte.gz";
  return o;
}

TEST(DatagenDense, SegmentationMasksLabelItemPixels) {
  if (!std::filesystem::exists(kFashion)) GTEST_SKIP() << "needs dataset-fashion-mnist";
  TempFolder dir;
  SegDatagenOptions o = seg_options(dir, "s.h5");
  const DatasetArrays fashion = read_idx(o.fashion_images, o.fashion_labels);
  const int64_t h = o.height, w = o.width;
  std::vector<uint8_t> pixels(static_cast<size_t>(3 * h * w));
  std::vector<int32_t> mask(static_cast<size_t>(h * w));
  std::set<int32_t> classes;
  for (int64_t row = 0; row < 30; ++row) {
    const auto items = render_segmentation(o, fashion.features_u8, fashion.labels, row,
                                           pixels.data(), mask.data());
    ASSERT_GE(items.size(), 2u);
    ASSERT_LE(items.size(), 4u);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        // The topmost item covering the pixel decides its class; none: background.
        int32_t want = 0;
        for (const PlacedItem& it : items)
          if (item_pixel(fashion.features_u8, it, y, x) > kItemThreshold) want = it.cls;
        ASSERT_EQ(mask[static_cast<size_t>(y * w + x)], want)
            << "row " << row << " y " << y << " x " << x;
        classes.insert(want);
      }
    for (const PlacedItem& it : items)
      EXPECT_EQ(it.cls, fashion.labels[static_cast<size_t>(it.source)] + 1);
  }
  EXPECT_GE(classes.size(), 8u);  // background and most item classes
  EXPECT_TRUE(classes.count(0));
}

TEST(DatagenDense, FilesAreDeterministicAndReadable) {
  if (!std::filesystem::exists(kFashion)) GTEST_SKIP() << "needs dataset-fashion-mnist";
  TempFolder dir;
  for (SegTask task : {SegTask::kSegmentation, SegTask::kRoad}) {
    SegDatagenOptions a = seg_options(dir, "a.h5"), b = seg_options(dir, "b.h5"),
                      c = seg_options(dir, "c.h5");
    a.task = b.task = c.task = task;
    c.seed = 4;
    generate_dense_dataset(a);
    generate_dense_dataset(b);
    generate_dense_dataset(c);
    const DatasetSpec spec{a.path};
    const Shard sa = Shard::load(spec, 0, 40), sb = Shard::load(DatasetSpec{b.path}, 0, 40),
                sc = Shard::load(DatasetSpec{c.path}, 0, 40);
    const bool seg = task == SegTask::kSegmentation;
    EXPECT_TRUE(sa.info().per_pixel());
    EXPECT_EQ(sa.info().sample_shape, (std::vector<int64_t>{3, 48, 40}));
    EXPECT_EQ(sa.info().class_names, seg ? kSegmentationClasses : kRoadClasses);
    EXPECT_NO_THROW(sa.check_labels(seg ? 11 : 6, spec));
    std::vector<int64_t> rows(40);
    for (int64_t i = 0; i < 40; ++i) rows[static_cast<size_t>(i)] = i;
    std::vector<int32_t> la(40 * 48 * 40), lb(la.size()), lc(la.size());
    sa.gather_labels(rows, la);
    sb.gather_labels(rows, lb);
    sc.gather_labels(rows, lc);
    EXPECT_EQ(la, lb) << "same seed, other labels";
    EXPECT_NE(la, lc) << "another seed, same labels";
    std::vector<float> xa(40 * 3 * 48 * 40), xb(xa.size());
    sa.gather_features(rows, Normalization{}, xa);
    sb.gather_features(rows, Normalization{}, xb);
    EXPECT_EQ(xa, xb);
    if (!seg) {
      // Sky across the top row, road in the middle of the bottom row.
      for (int64_t i = 0; i < 40; ++i) {
        for (int64_t x = 0; x < 40; ++x) ASSERT_EQ(la[static_cast<size_t>(i * 1920 + x)], 1);
        std::set<int32_t> bottom(la.begin() + i * 1920 + 47 * 40, la.begin() + i * 1920 + 48 * 40);
        EXPECT_TRUE(bottom.count(2) || bottom.count(3) || bottom.count(4)) << "row " << i;
      }
    }
  }
}

}  // namespace
}  // namespace lockstep::io
