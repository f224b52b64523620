#pragma once
// HDF5 datasets (DESIGN.md "Data"): a features dataset of shape (N, ...) holding
// uint8 or float32, and a labels dataset holding either (N,) integer class ids,
// (N, H, W) integer class ids per pixel (dense prediction of (N, C, H, W)
// images), or (N, k) float targets. Images stored channels-last (layout.hpp)
// are transposed to (N, C, H, W) as they are read. Names are configurable. Each rank loads only its
// own contiguous shard [begin, end) with one hyperslab read per dataset.
//
// Validation happens at open and names the file, the dataset, what was expected
// and what was found.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "io/layout.hpp"

namespace lockstep::io {

enum class FeatureType { kUint8, kFloat32 };
enum class LabelKind { kClassIds, kTargets };  // (N,) integers, or (N, k) floats

const char* to_string(FeatureType t);
const char* to_string(LabelKind k);

/// Where a dataset lives.
struct DatasetSpec {
  std::string path;
  std::string features = "/features";
  std::string labels = "/labels";  // empty: features only (prediction inputs)
  Layout layout = Layout::kAuto;   // data.layout: kAuto follows the file's attribute
};

/// Schema of a dataset, read from the file without reading the data.
struct DatasetInfo {
  std::string path;
  int64_t num_samples = 0;
  std::vector<int64_t>
      sample_shape;  // features shape without the leading N, as (C, H, W) for images
  std::vector<int64_t> file_sample_shape;  // as stored: (H, W, C) when layout is kNhwc
  Layout layout = Layout::kNchw;           // how the file stores the samples (never kAuto)
  FeatureType feature_type = FeatureType::kFloat32;
  LabelKind label_kind = LabelKind::kClassIds;
  int64_t target_dim = 1;                // k for (N, k) targets; 1 for class ids
  std::vector<int64_t> label_shape;      // class ids per row: {} for (N,), {H, W} for (N, H, W)
  std::optional<int32_t> ignore_index;   // labels' "ignore_index" attribute: a class id to skip
  bool has_labels = true;                // false when opened without labels (spec.labels empty)
  std::vector<std::string> class_names;  // the file's "class_names" attribute; empty: none
  int64_t sample_size() const;           // product of sample_shape
  /// Label values per row: 1 for (N,) ids, H * W for (N, H, W) ids, k for targets.
  int64_t label_size() const;
  bool per_pixel() const { return label_kind == LabelKind::kClassIds && !label_shape.empty(); }
};

/// Opens the file and checks the schema: file exists and is HDF5, both datasets
/// exist, features have rank >= 2 and dtype uint8 or float32, labels are (N,)
/// integers, (N, H, W) integers matching (N, C, H, W) features, or (N, k)
/// floats, the layout resolves (resolve_layout), the counts agree, N > 0, and every filter a
/// dataset was written with (compression) can be decoded by this HDF5 library.
/// Throws lockstep::Error. With an empty spec.labels only the features are
/// opened and checked.
DatasetInfo probe_dataset(const DatasetSpec& spec);

/// Input normalisation: x' = (x * scale - mean[c]) / std[c], c the channel
/// (dimension 0 of the sample shape when mean/std have more than one entry).
/// Applied to uint8 and float32 features alike; the defaults map uint8 to [0, 1]
/// and leave float32 as it is (scale 1) when `scale` is left negative.
struct Normalization {
  double scale = -1.0;            // < 0: 1/255 for uint8, 1 for float32
  std::vector<double> mean{0.0};  // one value, or one per channel
  std::vector<double> std{1.0};   // one value, or one per channel
};

/// Throws unless every value of `values` (rows of `width` floats, the first
/// being row `first_row` of the file) is finite, naming `where` (the file),
/// the dataset `name`, the first row holding NaN or Inf and the value. Float
/// inputs are checked as they are read: a NaN in the data is a data error, not
/// a "non-finite loss" many steps later.
void check_finite(std::span<const float> values, int64_t width, int64_t first_row,
                  const std::string& where, const std::string& name);

struct DatasetArrays;

/// The rows [begin, end) of one dataset held in memory in their file dtype.
class Shard {
 public:
  /// Reads rows [begin, end) with hyperslab reads; 0 <= begin <= end <= N (an
  /// empty range gives an empty shard with the file's info).
  /// Without features only the labels are read (enough to validate them).
  /// Float features and targets must be finite (check_finite).
  static Shard load(const DatasetSpec& spec, int64_t begin, int64_t end, bool with_features = true);
  /// Rows [begin, end) of in-memory float32 or uint8 features (labels too when
  /// `arrays` has them); `path` names the source in messages. Float values
  /// must be finite (check_finite).
  static Shard from_arrays(const std::string& path, const DatasetArrays& arrays, int64_t begin,
                           int64_t end);

  const DatasetInfo& info() const { return info_; }
  int64_t begin() const { return begin_; }  // global index of local row 0
  int64_t size() const { return size_; }
  /// The file row of local row i (begin() + i unless rows were dropped by keep).
  int64_t file_row(int64_t i) const {
    return rows_.empty() ? begin_ + i : rows_[static_cast<size_t>(i)];
  }

  /// Keeps only the local rows `rows` (strictly increasing), in that order;
  /// file_row() still names their rows in the file.
  void keep(std::span<const int64_t> rows);

  /// Writes the normalised features of local rows `rows` to `out`
  /// (rows.size() * sample_size floats, row-major). Checks the normalisation
  /// against the channel count and `out` against the sizes.
  void gather_features(std::span<const int64_t> rows, const Normalization& norm,
                       std::span<float> out) const;
  /// Class ids of local rows (label_kind must be kClassIds): label_size() per row.
  void gather_labels(std::span<const int64_t> rows, std::span<int32_t> out) const;
  /// Float targets of local rows (label_kind must be kTargets): rows.size() * target_dim.
  void gather_targets(std::span<const int64_t> rows, std::span<float> out) const;

  /// The largest class id of the local rows (not counting the ignore_index)
  /// and the file row of its first occurrence; {-1, -1} without rows or class
  /// ids (or when all are negative).
  std::pair<int32_t, int64_t> max_class_id() const;
  /// Throws if a class id is outside [0, num_classes) (and is not the
  /// dataset's ignore_index), naming the file, the labels dataset, the global
  /// row (and pixel), the value and the expected range.
  void check_labels(int64_t num_classes, const DatasetSpec& spec) const;

 private:
  DatasetInfo info_;
  int64_t begin_ = 0;
  int64_t size_ = 0;
  std::vector<int64_t> rows_;  // file rows of the local rows after keep(); empty: contiguous
  std::vector<uint8_t> features_u8_;
  std::vector<float> features_f32_;
  std::vector<int32_t> labels_;  // class ids, label_size() per row
  std::vector<float> targets_;   // (size, target_dim)
};

/// Arrays for writing a whole dataset at once (importers, tests, datagen).
struct DatasetArrays {
  std::vector<int64_t> sample_shape;
  FeatureType feature_type = FeatureType::kFloat32;
  std::vector<uint8_t> features_u8;  // N * sample_size, when kUint8
  std::vector<float> features_f32;   // N * sample_size, when kFloat32
  LabelKind label_kind = LabelKind::kClassIds;
  std::vector<int32_t> labels;          // N * product(label_shape), when kClassIds
  std::vector<int64_t> label_shape;     // {} for (N,) class ids, {H, W} per pixel
  std::optional<int32_t> ignore_index;  // written as the labels' "ignore_index" attribute
  Layout layout = Layout::kNchw;  // written as the features' "layout" for (C, H, W) / (H, W, C)
                                  // samples; kAuto writes none
  std::vector<float> targets;     // N * target_dim, when kTargets
  int64_t target_dim = 1;
  std::vector<std::string> class_names;  // optional, stored as an attribute
  int64_t num_samples() const;
};

/// Writes `arrays` to a new HDF5 file at `spec.path` (chunked along N, gzip),
/// atomically: a temporary name in the same folder, then rename. Attributes:
/// "lockstep_format" = "dataset/1" on the root group, "class_names" when given,
/// "layout" on the features of image samples, "ignore_index" on the labels.
void write_dataset(const DatasetSpec& spec, const DatasetArrays& arrays);

}  // namespace lockstep::io
