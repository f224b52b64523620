#pragma once
// Synthetic image-classification datasets of any size and shape, for scaling
// experiments and benchmarks where real data of that size is not at hand.
//
// A bank of 2K soft coloured blobs is drawn from the class seed; each of the K
// classes is a combination of 4 of them (classes share blobs). A sample draws
// its class's blobs, each present with probability 0.75 at a random weight,
// shifts them together by a few pixels and adds pixel noise; stored as uint8
// (or float32 in [0, 1]). Learnable, but not trivially: a CNN that looks at
// combinations of parts does better than a linear model. Every sample is a
// pure function of (seed, row) and the classes of class_seed, so train and
// test files share classes when written with the same class seed and
// different seeds; generation streams block by block, so memory stays bounded
// for files larger than memory. Features are chunked along N so that sharded
// hyperslab reads touch only their own chunks.

#include <cstdint>
#include <string>
#include <vector>

#include "io/dataset.hpp"

namespace lockstep::io {

struct DatagenOptions {
  std::string path;
  int64_t samples = 10000;
  std::vector<int64_t> shape{3, 64, 64};  // (C, H, W)
  int64_t classes = 10;
  uint64_t seed = 0;        // samples
  uint64_t class_seed = 0;  // the classes (keep it equal for train and test files)
  double noise = 0.3;       // pixel noise std, in units of the [0, 1] range
  int64_t max_shift = 6;    // random translation in pixels
  FeatureType dtype = FeatureType::kUint8;
};

/// Writes the dataset atomically (temporary name, then rename).
void generate_image_dataset(const DatagenOptions& options);

/// Parses "3x64x64" into {3, 64, 64}; throws naming the text.
std::vector<int64_t> parse_shape(const std::string& text);

}  // namespace lockstep::io
