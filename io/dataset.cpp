// HDF5 datasets: schema validation, hyperslab shard reads, normalisation and the
// writer (see dataset.hpp).
//
// Decisions:
// - One function (open_dataset, dataset_open.cpp) opens the file and validates
//   both datasets; probe_dataset returns its schema and Shard::load reuses the
//   open handles, so the checks and their messages exist once.
// - Integer labels of any width are converted by HDF5 to int32 while reading
//   (H5T_NATIVE_INT32 memory type); float targets of any width to float.
// - The writer chunks along N (about 1 MiB of rows per chunk, at least one row)
//   and compresses with gzip level 4 when the deflate filter is available; a
//   contiguous shard then touches only the chunks that hold its rows.

#include "io/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

#include "io/dataset_open.hpp"
#include "io/hdf5.hpp"
#include "io/normaliser.hpp"

namespace lockstep::io {

using detail::open_dataset;
using detail::OpenDataset;

namespace {

constexpr int kGzipLevel = 4;
constexpr int64_t kChunkBytes = int64_t{1} << 20;

void read_rows(hid_t dataset, int64_t begin, int64_t end, hid_t mem_type, void* buffer) {
  h5::Dataspace file_space{LOCKSTEP_HDF5_CHECK(H5Dget_space(dataset))};
  const auto shape = h5::extent(file_space.get());
  std::vector<hsize_t> start(shape.size(), 0);
  std::vector<hsize_t> count(shape.begin(), shape.end());
  start[0] = static_cast<hsize_t>(begin);
  count[0] = static_cast<hsize_t>(end - begin);
  LOCKSTEP_HDF5_CHECK(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                          count.data(), nullptr));
  h5::Dataspace mem_space{
      LOCKSTEP_HDF5_CHECK(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr))};
  LOCKSTEP_HDF5_CHECK(
      H5Dread(dataset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, buffer));
}

void check_rows(std::span<const int64_t> rows, int64_t size, const char* what) {
  for (int64_t r : rows) {
    LOCKSTEP_CHECK(r >= 0 && r < size,
                   what << ": row " << r << " is outside the shard; expected 0 <= row < " << size);
  }
}

// Writes `data` as a new dataset `name` of shape `dims`, chunked along dims[0].
void write_rows(hid_t file, const std::string& name, hid_t file_type, hid_t mem_type,
                const std::vector<int64_t>& dims, const void* data) {
  std::vector<hsize_t> hdims(dims.begin(), dims.end());
  int64_t row_bytes = static_cast<int64_t>(H5Tget_size(file_type));
  for (size_t i = 1; i < dims.size(); ++i) row_bytes *= dims[i];
  std::vector<hsize_t> chunk = hdims;
  chunk[0] = static_cast<hsize_t>(std::clamp<int64_t>(kChunkBytes / row_bytes, 1, dims[0]));

  h5::Dataspace space{
      LOCKSTEP_HDF5_CHECK(H5Screate_simple(static_cast<int>(hdims.size()), hdims.data(), nullptr))};
  h5::PropList dcpl{LOCKSTEP_HDF5_CHECK(H5Pcreate(H5P_DATASET_CREATE))};
  LOCKSTEP_HDF5_CHECK(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()));
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
    LOCKSTEP_HDF5_CHECK(H5Pset_deflate(dcpl.get(), kGzipLevel));
  }
  h5::PropList lcpl{LOCKSTEP_HDF5_CHECK(H5Pcreate(H5P_LINK_CREATE))};
  LOCKSTEP_HDF5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1));
  h5::Dataset ds{LOCKSTEP_HDF5_CHECK(
      H5Dcreate2(file, name.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT))};
  LOCKSTEP_HDF5_CHECK(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
}

}  // namespace

void check_finite(std::span<const float> values, int64_t width, int64_t first_row,
                  const std::string& where, const std::string& name) {
  const auto w = static_cast<size_t>(std::max<int64_t>(width, 1));
  for (size_t start = 0; start < values.size(); start += w) {
    const size_t end = std::min(values.size(), start + w);
    bool finite = true;
    for (size_t j = start; j < end; ++j) finite &= std::isfinite(values[j]);
    if (finite) continue;
    size_t j = start;
    while (std::isfinite(values[j])) ++j;
    LOCKSTEP_FAIL(where << ": dataset '" << name << "' row "
                        << first_row + static_cast<int64_t>(start / w) << " holds " << values[j]
                        << " (value " << j - start
                        << " of the row); expected finite numbers (no NaN or Inf) in the input");
  }
}

const char* to_string(FeatureType t) {
  return t == FeatureType::kUint8 ? "uint8" : "float32";
}

const char* to_string(LabelKind k) {
  return k == LabelKind::kClassIds ? "class ids" : "targets";
}

int64_t DatasetInfo::sample_size() const {
  int64_t n = 1;
  for (int64_t d : sample_shape) n *= d;
  return n;
}

int64_t DatasetInfo::label_size() const {
  if (label_kind == LabelKind::kTargets) return target_dim;
  int64_t n = 1;
  for (int64_t d : label_shape) n *= d;
  return n;
}

int64_t DatasetArrays::num_samples() const {
  int64_t size = 1;
  for (int64_t d : sample_shape) size *= d;
  if (sample_shape.empty() || size <= 0) return 0;
  const size_t values =
      feature_type == FeatureType::kUint8 ? features_u8.size() : features_f32.size();
  return static_cast<int64_t>(values) / size;
}

DatasetInfo probe_dataset(const DatasetSpec& spec) {
  return open_dataset(spec).info;
}

Shard Shard::load(const DatasetSpec& spec, int64_t begin, int64_t end, bool with_features) {
  OpenDataset open = open_dataset(spec);
  const int64_t n = open.info.num_samples;
  LOCKSTEP_CHECK(0 <= begin && begin <= end && end <= n,
                 "dataset file '" << spec.path << "': cannot load rows [" << begin << ", " << end
                                  << "); expected 0 <= begin <= end <= " << n);
  Shard shard;
  shard.info_ = open.info;
  shard.begin_ = begin;
  shard.size_ = end - begin;
  if (shard.size_ == 0) return shard;  // a rank with no rows (evaluation shards)
  const auto rows = static_cast<size_t>(shard.size_);
  const auto values = rows * static_cast<size_t>(open.info.sample_size());
  if (!with_features) {
    // labels only
  } else if (open.info.feature_type == FeatureType::kUint8) {
    shard.features_u8_.resize(values);
    read_rows(open.features.get(), begin, end, H5T_NATIVE_UINT8, shard.features_u8_.data());
    if (open.info.layout == Layout::kNhwc)
      nhwc_to_nchw(shard.features_u8_.data(), shard.size_, open.info.file_sample_shape, 1);
  } else {
    shard.features_f32_.resize(values);
    read_rows(open.features.get(), begin, end, H5T_NATIVE_FLOAT, shard.features_f32_.data());
    if (open.info.layout == Layout::kNhwc)
      nhwc_to_nchw(shard.features_f32_.data(), shard.size_, open.info.file_sample_shape, 4);
    check_finite(shard.features_f32_, open.info.sample_size(), begin,
                 "dataset file '" + spec.path + "'", spec.features);
  }
  if (!open.info.has_labels) {
    // features only
  } else if (open.info.label_kind == LabelKind::kClassIds) {
    shard.labels_.resize(rows * static_cast<size_t>(open.info.label_size()));
    read_rows(open.labels.get(), begin, end, H5T_NATIVE_INT32, shard.labels_.data());
  } else {
    shard.targets_.resize(rows * static_cast<size_t>(open.info.target_dim));
    read_rows(open.labels.get(), begin, end, H5T_NATIVE_FLOAT, shard.targets_.data());
    check_finite(shard.targets_, open.info.target_dim, begin, "dataset file '" + spec.path + "'",
                 spec.labels);
  }
  return shard;
}

Shard Shard::from_arrays(const std::string& path, const DatasetArrays& arrays, int64_t begin,
                         int64_t end) {
  const int64_t n = arrays.num_samples();
  LOCKSTEP_CHECK(0 <= begin && begin <= end && end <= n,
                 "data '" << path << "': cannot take rows [" << begin << ", " << end
                          << "); expected 0 <= begin <= end <= " << n);
  Shard shard;
  shard.info_.path = path;
  shard.info_.num_samples = n;
  shard.info_.sample_shape = arrays.sample_shape;
  shard.info_.file_sample_shape = arrays.sample_shape;
  shard.info_.label_shape =
      arrays.label_kind == LabelKind::kClassIds ? arrays.label_shape : std::vector<int64_t>{};
  shard.info_.ignore_index = arrays.ignore_index;
  shard.info_.feature_type = arrays.feature_type;
  shard.info_.label_kind = arrays.label_kind;
  shard.info_.target_dim = arrays.target_dim;
  shard.begin_ = begin;
  shard.size_ = end - begin;
  const auto take = [&](const auto& all, auto& out, int64_t width) {
    if (all.empty()) return;
    out.assign(all.begin() + static_cast<std::ptrdiff_t>(begin * width),
               all.begin() + static_cast<std::ptrdiff_t>(end * width));
  };
  const int64_t sample = shard.info_.sample_size();
  take(arrays.features_u8, shard.features_u8_, sample);
  take(arrays.features_f32, shard.features_f32_, sample);
  take(arrays.labels, shard.labels_, shard.info_.label_size());
  take(arrays.targets, shard.targets_, arrays.target_dim);
  check_finite(shard.features_f32_, sample, begin, "data '" + path + "'", "features");
  check_finite(shard.targets_, arrays.target_dim, begin, "data '" + path + "'", "targets");
  shard.info_.has_labels = !arrays.labels.empty() || !arrays.targets.empty();
  shard.info_.class_names = arrays.class_names;
  return shard;
}

void Shard::gather_features(std::span<const int64_t> rows, const Normalization& norm,
                            std::span<float> out) const {
  const int64_t sample = info_.sample_size();
  LOCKSTEP_CHECK(out.size() == rows.size() * static_cast<size_t>(sample),
                 "gather_features: output holds " << out.size() << " floats; expected "
                                                  << rows.size() << " rows x " << sample << " = "
                                                  << rows.size() * static_cast<size_t>(sample));
  const Normaliser normaliser(info_, norm);
  check_rows(rows, size_, "gather_features");
  float* dst = out.data();
  for (int64_t r : rows) {
    const size_t base = static_cast<size_t>(r * sample);
    if (info_.feature_type == FeatureType::kUint8) {
      normaliser.apply(features_u8_.data() + base, dst);
    } else {
      normaliser.apply(features_f32_.data() + base, dst);
    }
    dst += sample;
  }
}

void Shard::gather_labels(std::span<const int64_t> rows, std::span<int32_t> out) const {
  LOCKSTEP_CHECK(info_.label_kind == LabelKind::kClassIds,
                 "dataset file '" << info_.path
                                  << "': gather_labels needs class ids; the labels are "
                                  << info_.target_dim << "-dim float targets");
  const auto k = static_cast<size_t>(info_.label_size());
  LOCKSTEP_CHECK(out.size() == rows.size() * k, "gather_labels: output holds "
                                                    << out.size() << " labels; expected "
                                                    << rows.size() << " rows x " << k);
  check_rows(rows, size_, "gather_labels");
  for (size_t i = 0; i < rows.size(); ++i) {
    const int32_t* src = labels_.data() + static_cast<size_t>(rows[i]) * k;
    std::copy(src, src + k, out.begin() + static_cast<std::ptrdiff_t>(i * k));
  }
}

void Shard::gather_targets(std::span<const int64_t> rows, std::span<float> out) const {
  LOCKSTEP_CHECK(info_.label_kind == LabelKind::kTargets,
                 "dataset file '" << info_.path
                                  << "': gather_targets needs float targets; the labels are "
                                     "integer class ids");
  const auto k = static_cast<size_t>(info_.target_dim);
  LOCKSTEP_CHECK(out.size() == rows.size() * k, "gather_targets: output holds "
                                                    << out.size() << " floats; expected "
                                                    << rows.size() << " rows x " << k << " = "
                                                    << rows.size() * k);
  check_rows(rows, size_, "gather_targets");
  for (size_t i = 0; i < rows.size(); ++i) {
    const float* src = targets_.data() + static_cast<size_t>(rows[i]) * k;
    std::copy(src, src + k, out.begin() + static_cast<std::ptrdiff_t>(i * k));
  }
}

void Shard::keep(std::span<const int64_t> rows) {
  check_rows(rows, size_, "Shard::keep");
  const auto sample = static_cast<size_t>(info_.sample_size());
  const auto k = static_cast<size_t>(info_.target_dim);
  const auto move = [&](auto& v, size_t width) {
    if (v.empty()) return;
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto from = static_cast<size_t>(rows[i]) * width;
      LOCKSTEP_CHECK(i == 0 || rows[i] > rows[i - 1], "Shard::keep: rows must increase");
      std::copy(v.begin() + static_cast<std::ptrdiff_t>(from),
                v.begin() + static_cast<std::ptrdiff_t>(from + width),
                v.begin() + static_cast<std::ptrdiff_t>(i * width));
    }
    v.resize(rows.size() * width);
    v.shrink_to_fit();
  };
  move(features_u8_, sample);
  move(features_f32_, sample);
  move(labels_, info_.label_kind == LabelKind::kClassIds ? static_cast<size_t>(info_.label_size())
                                                         : size_t{1});
  move(targets_, k);
  std::vector<int64_t> file_rows(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) file_rows[i] = file_row(rows[i]);
  rows_ = std::move(file_rows);
  size_ = static_cast<int64_t>(rows.size());
}

std::pair<int32_t, int64_t> Shard::max_class_id() const {
  if (labels_.empty()) return {-1, -1};
  // The first maximum, the ignore_index (unlabelled pixels) not counted.
  const bool skip = info_.ignore_index.has_value();
  const int32_t ignore = info_.ignore_index.value_or(0);
  int32_t top = -1;
  size_t at = 0;
  for (size_t i = 0; i < labels_.size(); ++i) {
    if ((skip && labels_[i] == ignore) || labels_[i] <= top) continue;
    top = labels_[i];
    at = i;
  }
  if (top < 0) return {-1, -1};
  return {top, file_row(static_cast<int64_t>(at) / info_.label_size())};
}

void Shard::check_labels(int64_t num_classes, const DatasetSpec& spec) const {
  LOCKSTEP_CHECK(info_.label_kind == LabelKind::kClassIds,
                 "dataset file '" << spec.path << "': labels '" << spec.labels
                                  << "' are float targets; expected integer class ids");
  const int64_t k = info_.label_size();
  const int64_t w = info_.per_pixel() ? info_.label_shape[1] : 1;
  const int32_t ignore = info_.ignore_index.value_or(-1);
  const bool has_ignore = info_.ignore_index.has_value();
  for (size_t i = 0; i < labels_.size(); ++i) {
    const int32_t v = labels_[i];
    if ((v >= 0 && v < num_classes) || (has_ignore && v == ignore)) continue;
    const auto at = static_cast<int64_t>(i);
    std::ostringstream pixel;
    if (info_.per_pixel()) pixel << " pixel (y " << (at % k) / w << ", x " << at % w << ")";
    LOCKSTEP_FAIL("dataset file '" << spec.path << "': labels '" << spec.labels << "' row "
                                   << file_row(at / k) << pixel.str() << " has class id " << v
                                   << "; expected 0 <= id < " << num_classes
                                   << (has_ignore ? " or the ignore_index " + std::to_string(ignore)
                                                  : std::string()));
  }
}

void write_dataset(const DatasetSpec& spec, const DatasetArrays& arrays) {
  const std::string where = "dataset file '" + spec.path + "'";
  LOCKSTEP_CHECK(!arrays.sample_shape.empty(),
                 where << ": sample shape is empty; expected at least one dimension");
  for (int64_t d : arrays.sample_shape) {
    LOCKSTEP_CHECK(d > 0, where << ": sample shape " << h5::shape_string(arrays.sample_shape)
                                << "; expected every dimension > 0");
  }
  int64_t sample = 1;
  for (int64_t d : arrays.sample_shape) sample *= d;
  const bool u8 = arrays.feature_type == FeatureType::kUint8;
  const size_t values = u8 ? arrays.features_u8.size() : arrays.features_f32.size();
  const int64_t n = arrays.num_samples();
  LOCKSTEP_CHECK(n > 0 && values == static_cast<size_t>(n * sample),
                 where << ": " << values << " " << to_string(arrays.feature_type)
                       << " feature values; expected a positive multiple of the sample size "
                       << sample);
  LOCKSTEP_CHECK(spec.features != spec.labels,
                 where << ": features and labels have the same name '" << spec.features << "'");
  const bool ids = arrays.label_kind == LabelKind::kClassIds;
  int64_t label_size = 1;
  for (int64_t d : arrays.label_shape) label_size *= d;
  if (ids) {
    LOCKSTEP_CHECK(arrays.label_shape.empty() || arrays.label_shape.size() == 2,
                   where << ": label shape " << h5::shape_string(arrays.label_shape)
                         << "; expected none (N,) or (H, W) per pixel");
    LOCKSTEP_CHECK(
        static_cast<int64_t>(arrays.labels.size()) == n * label_size,
        where << ": " << arrays.labels.size() << " labels; expected " << n << " x " << label_size);
  } else {
    LOCKSTEP_CHECK(arrays.target_dim > 0 &&
                       static_cast<int64_t>(arrays.targets.size()) == n * arrays.target_dim,
                   where << ": " << arrays.targets.size() << " target values with target_dim "
                         << arrays.target_dim << "; expected " << n << " x target_dim (> 0)");
  }

  h5::write_atomically(spec.path, "dataset file", [&](hid_t file) {
    std::vector<int64_t> dims{n};
    dims.insert(dims.end(), arrays.sample_shape.begin(), arrays.sample_shape.end());
    if (u8) {
      write_rows(file, spec.features, H5T_STD_U8LE, H5T_NATIVE_UINT8, dims,
                 arrays.features_u8.data());
    } else {
      write_rows(file, spec.features, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims,
                 arrays.features_f32.data());
    }
    if (ids) {
      std::vector<int64_t> label_dims{n};
      label_dims.insert(label_dims.end(), arrays.label_shape.begin(), arrays.label_shape.end());
      write_rows(file, spec.labels, H5T_STD_I32LE, H5T_NATIVE_INT32, label_dims,
                 arrays.labels.data());
    } else {
      write_rows(file, spec.labels, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {n, arrays.target_dim},
                 arrays.targets.data());
    }
    detail::write_dataset_attributes(file, spec, arrays.sample_shape.size(), arrays.layout,
                                     ids ? arrays.ignore_index : std::nullopt);
    h5::write_string_attribute(file, "lockstep_format", "dataset/1");
    if (!arrays.class_names.empty()) {
      h5::write_strings_attribute(file, "class_names", arrays.class_names);
    }
  });
}

}  // namespace lockstep::io
