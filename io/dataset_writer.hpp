#pragma once
// A uint8 image dataset written block by block (import images, datagen
// segmentation): the file is created with its final size, each block of rows
// is written with one hyperslab write per dataset, and nothing but the current
// block is held in memory, so datasets larger than memory can be written.
// Both datasets chunked along N by the same rows (features of about 1 MiB
// per chunk), gzip (level 1 by default), written atomically
// (temporary name, then rename) like write_dataset, with the same attributes.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/dataset.hpp"

namespace lockstep::io {

struct ImageDatasetSchema {
  int64_t num_samples = 0;
  std::vector<int64_t> sample_shape;  // (C, H, W), stored NCHW uint8
  std::vector<int64_t> label_shape;   // {} for (N,) class ids, {H, W} per pixel
  std::vector<std::string> class_names;
  std::optional<int32_t> ignore_index;
  std::vector<std::pair<std::string, int64_t>> int_attributes;  // on the root group (seeds)
  std::vector<std::pair<std::string, std::string>> text_attributes;
  int threads = 1;          // threads compressing the chunks of a block
  int64_t chunk_bytes = 0;  // features per chunk; 0: 1 MiB
  int gzip = 1;             // deflate level 0..9 (0: none; none either without the filter)
};

/// Receives the rows of the dataset, in any order, each row exactly once.
class RowSink {
 public:
  virtual ~RowSink() = default;
  /// Rows [begin, begin + count): count * sample_size bytes of features and
  /// count * label_size class ids.
  virtual void write(int64_t begin, int64_t count, const uint8_t* features,
                     const int32_t* labels) = 0;
};

/// Rows per chunk along N of both datasets (features of about 1 MiB).
int64_t chunk_rows(const ImageDatasetSchema& schema);
/// Rows per block that keep a block near `bytes`: whole chunks when a chunk
/// fits in `bytes`, else fewer rows (at least one).
/// Blocks of whole chunks are compressed in parallel (`threads`) and written
/// with H5Dwrite_chunk; other writes go through HDF5's own (serial) filter.
int64_t rows_per_block(const ImageDatasetSchema& schema, int64_t bytes = int64_t{1} << 22);

/// Creates `spec.path` for `schema` and calls `produce` with a sink for its
/// rows; the file appears under its name only when `produce` returns.
void write_image_dataset(const DatasetSpec& spec, const ImageDatasetSchema& schema,
                         const std::function<void(RowSink&)>& produce);

}  // namespace lockstep::io
