#pragma once
// Synthetic dense-prediction datasets (lockstep datagen --task segmentation |
// road): uint8 (N, 3, H, W) images with (N, H, W) int32 class maps, written
// block by block (dataset_writer.hpp). Every sample is a pure function of
// (seed, row) (and, for segmentation, of the source items), so files repeat.
//
// - segmentation: Fashion-MNIST items (read from the IDX files of Debian's
//   dataset-fashion-mnist) pasted onto a cluttered canvas at random scales,
//   positions and colours, overlapping (later items occlude earlier ones).
//   Class 0 is the background (clutter included); class k + 1 is
//   Fashion-MNIST class k (11 classes). A pixel belongs to an item where the
//   item's (resized) intensity is above kItemThreshold.
// - road: a road scene: sky, terrain, a road narrowing to a vanishing point,
//   dashed lane markings, vehicles and pedestrians (6 classes, see
//   kRoadClasses), with pixel noise.

#include <cstdint>
#include <string>
#include <vector>

#include "io/dataset.hpp"

namespace lockstep::io {

enum class SegTask { kSegmentation, kRoad };

struct SegDatagenOptions {
  SegTask task = SegTask::kSegmentation;
  std::string path;
  int64_t samples = 1000;
  int64_t height = 64;
  int64_t width = 64;
  uint64_t seed = 0;
  int64_t min_items = 2;  // segmentation: items per canvas
  int64_t max_items = 4;
  double noise = 0.04;         // pixel noise std, fraction of full range
  std::string fashion_images;  // segmentation: IDX files of the items
  std::string fashion_labels;
};

constexpr int kItemThreshold = 48;  // item intensity (0..255) above which a pixel is the item's
extern const std::vector<std::string> kSegmentationClasses;  // 11: background + 10 items
extern const std::vector<std::string> kRoadClasses;          // 6

/// One item placed on a segmentation canvas (for tests).
struct PlacedItem {
  int64_t source = 0;                   // row of the IDX file
  int32_t cls = 0;                      // its class (Fashion-MNIST label + 1)
  int64_t top = 0, left = 0, size = 0;  // square box on the canvas (may leave it)
};

/// Renders segmentation sample `row` into pixels (3, H, W) and mask (H, W);
/// `items` are the Fashion-MNIST images (N, 28, 28) and `labels` their classes.
std::vector<PlacedItem> render_segmentation(const SegDatagenOptions& o,
                                            const std::vector<uint8_t>& items,
                                            const std::vector<int32_t>& labels, int64_t row,
                                            uint8_t* pixels, int32_t* mask);
/// Renders road sample `row`.
void render_road(const SegDatagenOptions& o, int64_t row, uint8_t* pixels, int32_t* mask);

/// The item pixel of a placed item at canvas (y, x), nearest-resized from 28x28.
uint8_t item_pixel(const std::vector<uint8_t>& items, const PlacedItem& item, int64_t y, int64_t x);

/// Writes the dataset (class_names stored; attributes generator, task, seed).
void generate_dense_dataset(const SegDatagenOptions& o);

}  // namespace lockstep::io
