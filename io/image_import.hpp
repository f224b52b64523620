#pragma once
// `lockstep import images`: a folder of PNG/JPEG files to a dataset.
//
// - Classification: one sub-folder per class (`root/cat/*.png`); the class
//   names are the folder names, sorted; the labels are (N,) class ids.
// - Segmentation: `root/images/NAME.{png,jpg}` and `root/masks/NAME.png` (one
//   class id per pixel, grayscale or palette); an optional `root/classes.txt`
//   names the classes ("ID NAME" per line, ids 0..K-1); the labels are
//   (N, H, W) class ids.
//
// Features are uint8 (N, C, H, W). The rows are shuffled with a seed (the
// readers shard contiguous rows across ranks: class-sorted rows would give
// each rank other classes). Files are decoded in parallel (threads) block by
// block and written as each block is done (dataset_writer.hpp), so memory
// stays bounded whatever the folder's size.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lockstep::io {

struct ImageImportOptions {
  std::string root;
  std::string out;
  int64_t height = 0;  // --size HxW; 0: every image must have the first one's size
  int64_t width = 0;
  bool crop = false;     // take the centred HxW window instead of resizing
  int64_t channels = 0;  // 1 or 3; 0: from the first image
  int threads = 0;       // decoding threads; 0: the hardware's
  int64_t classes = 0;   // segmentation: > 0 bounds the mask ids; 0: classes.txt or none
  std::optional<int32_t> ignore_index;  // a mask value allowed beyond the classes (e.g. 255)
  bool shuffle = true;
  uint64_t seed = 0;
  int64_t block_bytes = int64_t{1} << 24;  // rows decoded (and held) at once
  int64_t chunk_bytes = 0;                 // features per HDF5 chunk; 0: 1 MiB
  int gzip = 1;                            // deflate level of the datasets; 0: none
};

struct ImageImportReport {
  bool segmentation = false;
  int64_t images = 0;
  std::vector<int64_t> sample_shape;  // (C, H, W)
  std::vector<std::string> class_names;
  int32_t max_id = -1;  // largest class id seen
  double seconds = 0;
  int threads = 1;
};

/// Imports `options.root` into `options.out`; throws lockstep::Error naming
/// the file for an undecodable image, a size that differs without --size, a
/// mask missing or of another size than its image, a mask value outside the
/// classes, or a folder of neither shape.
ImageImportReport import_images(const ImageImportOptions& options);

/// Parses "HxW" (e.g. 64x64); throws naming the text.
std::pair<int64_t, int64_t> parse_size(const std::string& text);

}  // namespace lockstep::io
