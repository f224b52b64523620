// HDF5 datasets: schema validation, hyperslab shard reads, normalisation and the
// writer (see dataset.hpp).
//
// Decisions:
// - One function (open_dataset) opens the file and validates both datasets;
//   probe_dataset returns its schema and Shard::load reuses the open handles, so
//   the checks and their messages exist once. Every message starts with
//   "dataset file '<path>'" and says what was expected and what was found.
// - Integer labels of any width are converted by HDF5 to int32 while reading
//   (H5T_NATIVE_INT32 memory type); float targets of any width to float.
// - The writer chunks along N (about 1 MiB of rows per chunk, at least one row)
//   and compresses with gzip level 4 when the deflate filter is available; a
//   contiguous shard then touches only the chunks that hold its rows.

#include "io/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <utility>

#include "io/hdf5.hpp"
#include "io/normaliser.hpp"

namespace lockstep::io {

namespace {

constexpr int kGzipLevel = 4;
constexpr int64_t kChunkBytes = int64_t{1} << 20;

struct OpenDataset {
  h5::File file;
  h5::Dataset features;
  h5::Dataset labels;
  DatasetInfo info;
};

std::string found_datasets(hid_t file) {
  std::ostringstream os;
  bool any = false;
  for (const auto& entry : h5::list_objects(file)) {
    if (entry.type != H5I_DATASET) continue;
    os << (any ? ", " : "") << entry.path;
    any = true;
  }
  return any ? os.str() : std::string("no datasets");
}

// Names of the registered third-party filters h5py and its plugins write most
// (https://github.com/HDFGroup/hdf5_plugins/blob/master/docs/RegisteredFilterPlugins.md).
std::string filter_name(H5Z_filter_t id, const char* stored) {
  static constexpr std::pair<H5Z_filter_t, const char*> kKnown[] = {
      {307, "bzip2"},        {32000, "lzf"},  {32001, "blosc"}, {32004, "lz4"},
      {32008, "bitshuffle"}, {32015, "zstd"}, {32017, "sz"}};
  std::string name;
  for (const auto& [known, known_name] : kKnown)
    if (known == id) name = known_name;
  if (name.empty()) name = stored;
  return name.empty() ? "filter " + std::to_string(id)
                      : "filter " + std::to_string(id) + " (" + name + ")";
}

// A dataset written through a filter this HDF5 cannot decode (a compression
// plugin it does not have, such as h5py's LZF) would fail at the first read
// with HDF5's "can't open directory" about its plugin folder; say it at open.
void check_filters(hid_t dataset, const std::string& where, const std::string& name) {
  h5::PropList dcpl{LOCKSTEP_HDF5_CHECK(H5Dget_create_plist(dataset))};
  const int filters = LOCKSTEP_HDF5_CHECK(H5Pget_nfilters(dcpl.get()));
  for (int i = 0; i < filters; ++i) {
    unsigned flags = 0, config = 0;
    size_t nvalues = 0;
    char stored[64] = {0};
    const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nvalues,
                                           nullptr, sizeof(stored), stored, &config);
    LOCKSTEP_CHECK(id >= 0, where << ": dataset '" << name << "': cannot read its filter " << i
                                  << ": " << h5::error_stack_message());
    // Optional filters too (h5py marks LZF optional): "optional" only lets a
    // writer store a chunk unfiltered; chunks it did filter need the decoder.
    unsigned info = 0;
    const bool decodes = H5Zfilter_avail(id) > 0 && H5Zget_filter_info(id, &info) >= 0 &&
                         (info & H5Z_FILTER_CONFIG_DECODE_ENABLED) != 0;
    LOCKSTEP_CHECK(decodes, where << ": dataset '" << name << "' is compressed with "
                                  << filter_name(id, stored)
                                  << ", which this HDF5 library cannot decode (no plugin for it "
                                     "in HDF5_PLUGIN_PATH); expected gzip or no compression, e.g. "
                                     "rewrite it with h5py's compression=\"gzip\", or install "
                                     "the filter's HDF5 plugin");
  }
}

h5::Dataset open_member(hid_t file, const std::string& where, const std::string& name,
                        const char* expected) {
  LOCKSTEP_CHECK(h5::object_type(file, name) == H5I_DATASET,
                 where << ": no dataset '" << name << "' (expected " << expected
                       << "); found: " << found_datasets(file));
  h5::Dataset ds{LOCKSTEP_HDF5_CHECK(H5Dopen2(file, name.c_str(), H5P_DEFAULT))};
  check_filters(ds.get(), where, name);
  return ds;
}

std::vector<int64_t> dataset_shape(hid_t dataset) {
  h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Dget_space(dataset))};
  return h5::extent(space.get());
}

void validate_features(OpenDataset& open, const std::string& where, const std::string& name) {
  const auto shape = dataset_shape(open.features.get());
  LOCKSTEP_CHECK(shape.size() >= 2,
                 where << ": features '" << name << "' have shape " << h5::shape_string(shape)
                       << " (rank " << shape.size()
                       << "); expected rank >= 2: (N, ...) with one sample per row");
  h5::Datatype type{LOCKSTEP_HDF5_CHECK(H5Dget_type(open.features.get()))};
  const H5T_class_t cls = H5Tget_class(type.get());
  const size_t size = H5Tget_size(type.get());
  if (cls == H5T_INTEGER && size == 1 && H5Tget_sign(type.get()) == H5T_SGN_NONE) {
    open.info.feature_type = FeatureType::kUint8;
  } else if (cls == H5T_FLOAT && size == 4) {
    open.info.feature_type = FeatureType::kFloat32;
  } else {
    LOCKSTEP_FAIL(where << ": features '" << name << "' have dtype " << h5::dtype_name(type.get())
                        << "; expected uint8 or float32");
  }
  open.info.num_samples = shape[0];
  open.info.sample_shape.assign(shape.begin() + 1, shape.end());
  LOCKSTEP_CHECK(shape[0] > 0, where << ": dataset is empty: features '" << name << "' have shape "
                                     << h5::shape_string(shape)
                                     << "; expected at least one sample");
  for (int64_t d : open.info.sample_shape) {
    LOCKSTEP_CHECK(d > 0, where << ": features '" << name << "' have shape "
                                << h5::shape_string(shape)
                                << "; expected every sample dimension > 0");
  }
}

void validate_labels(OpenDataset& open, const std::string& where, const std::string& name,
                     const std::string& features) {
  const auto shape = dataset_shape(open.labels.get());
  h5::Datatype type{LOCKSTEP_HDF5_CHECK(H5Dget_type(open.labels.get()))};
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_INTEGER && shape.size() == 1) {
    open.info.label_kind = LabelKind::kClassIds;
    open.info.target_dim = 1;
  } else if (cls == H5T_FLOAT && shape.size() == 2 && shape[1] > 0) {
    open.info.label_kind = LabelKind::kTargets;
    open.info.target_dim = shape[1];
  } else {
    LOCKSTEP_FAIL(where << ": labels '" << name << "' have dtype " << h5::dtype_name(type.get())
                        << " and shape " << h5::shape_string(shape)
                        << "; expected integer class ids (N,) or float targets (N,k)");
  }
  LOCKSTEP_CHECK(shape[0] == open.info.num_samples,
                 where << ": count mismatch: features '" << features << "' have "
                       << open.info.num_samples << " rows but labels '" << name << "' have "
                       << shape[0] << "; expected the same count");
}

OpenDataset open_dataset(const DatasetSpec& spec) {
  namespace fs = std::filesystem;
  h5::silence_errors();
  const std::string where = "dataset file '" + spec.path + "'";
  std::error_code ec;
  LOCKSTEP_CHECK(!spec.path.empty(), "dataset file: no path given");
  LOCKSTEP_CHECK(fs::exists(spec.path, ec), where << ": no such file");
  LOCKSTEP_CHECK(!fs::is_directory(spec.path, ec), where << ": is a folder; expected an HDF5 file");
  LOCKSTEP_CHECK(H5Fis_hdf5(spec.path.c_str()) > 0,
                 where << ": not an HDF5 file (or not readable); expected an HDF5 file with '"
                       << spec.features << "' and '" << spec.labels << "'");
  OpenDataset open;
  open.info.path = spec.path;
  open.file = h5::File{h5::open_read_only(spec.path, where)};
  if (h5::has_attribute(open.file.get(), "class_names")) {
    try {
      open.info.class_names = h5::read_strings_attribute(open.file.get(), "class_names");
    } catch (const Error& e) {
      LOCKSTEP_FAIL(where << ": attribute 'class_names': expected a list of strings: " << e.what());
    }
  }
  open.features =
      open_member(open.file.get(), where, spec.features, "features (N, ...) of uint8 or float32");
  validate_features(open, where, spec.features);
  open.info.has_labels = !spec.labels.empty();
  if (!open.info.has_labels) return open;
  open.labels = open_member(open.file.get(), where, spec.labels,
                            "integer class ids (N,) or float targets (N,k)");
  validate_labels(open, where, spec.labels, spec.features);
  return open;
}

// Reads rows [begin, end) of `dataset` (shape (N, rest...)) into `buffer`.
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
  } else {
    shard.features_f32_.resize(values);
    read_rows(open.features.get(), begin, end, H5T_NATIVE_FLOAT, shard.features_f32_.data());
    check_finite(shard.features_f32_, open.info.sample_size(), begin,
                 "dataset file '" + spec.path + "'", spec.features);
  }
  if (!open.info.has_labels) {
    // features only
  } else if (open.info.label_kind == LabelKind::kClassIds) {
    shard.labels_.resize(rows);
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
  take(arrays.labels, shard.labels_, 1);
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
  LOCKSTEP_CHECK(out.size() == rows.size(), "gather_labels: output holds " << out.size()
                                                                           << " labels; expected "
                                                                           << rows.size());
  check_rows(rows, size_, "gather_labels");
  for (size_t i = 0; i < rows.size(); ++i) out[i] = labels_[static_cast<size_t>(rows[i])];
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
  move(labels_, 1);
  move(targets_, k);
  std::vector<int64_t> file_rows(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) file_rows[i] = file_row(rows[i]);
  rows_ = std::move(file_rows);
  size_ = static_cast<int64_t>(rows.size());
}

std::pair<int32_t, int64_t> Shard::max_class_id() const {
  if (labels_.empty()) return {-1, -1};
  const auto top = std::max_element(labels_.begin(), labels_.end());  // the first maximum
  return {*top, file_row(top - labels_.begin())};
}

void Shard::check_labels(int64_t num_classes, const DatasetSpec& spec) const {
  LOCKSTEP_CHECK(info_.label_kind == LabelKind::kClassIds,
                 "dataset file '" << spec.path << "': labels '" << spec.labels
                                  << "' are float targets; expected integer class ids");
  for (size_t i = 0; i < labels_.size(); ++i) {
    LOCKSTEP_CHECK(labels_[i] >= 0 && labels_[i] < num_classes,
                   "dataset file '" << spec.path << "': labels '" << spec.labels << "' row "
                                    << file_row(static_cast<int64_t>(i)) << " has class id "
                                    << labels_[i] << "; expected 0 <= id < " << num_classes);
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
  if (ids) {
    LOCKSTEP_CHECK(static_cast<int64_t>(arrays.labels.size()) == n,
                   where << ": " << arrays.labels.size() << " labels; expected " << n);
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
      write_rows(file, spec.labels, H5T_STD_I32LE, H5T_NATIVE_INT32, {n}, arrays.labels.data());
    } else {
      write_rows(file, spec.labels, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {n, arrays.target_dim},
                 arrays.targets.data());
    }
    h5::write_string_attribute(file, "lockstep_format", "dataset/1");
    if (!arrays.class_names.empty()) {
      h5::write_strings_attribute(file, "class_names", arrays.class_names);
    }
  });
}

}  // namespace lockstep::io
