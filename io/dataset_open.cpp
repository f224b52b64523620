// Opening a dataset file (dataset_open.hpp): the schema of the features and
// labels datasets and the filters they need, checked once.

#include "io/dataset_open.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace lockstep::io::detail {
namespace {

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

void validate_features(OpenDataset& open, const std::string& where, const std::string& name,
                       Layout requested) {
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
  open.info.file_sample_shape.assign(shape.begin() + 1, shape.end());
  LOCKSTEP_CHECK(shape[0] > 0, where << ": dataset is empty: features '" << name << "' have shape "
                                     << h5::shape_string(shape)
                                     << "; expected at least one sample");
  for (int64_t d : open.info.file_sample_shape) {
    LOCKSTEP_CHECK(d > 0, where << ": features '" << name << "' have shape "
                                << h5::shape_string(shape)
                                << "; expected every sample dimension > 0");
  }
  std::string attribute;
  if (h5::has_attribute(open.features.get(), "layout")) {
    try {
      attribute = h5::read_string_attribute(open.features.get(), "layout");
    } catch (const Error& e) {
      LOCKSTEP_FAIL(where << ": features '" << name
                          << "': attribute 'layout': expected a string, nchw or nhwc: "
                          << e.what());
    }
    if (attribute.empty()) attribute = "(empty)";
  }
  open.info.layout = resolve_layout(open.info.file_sample_shape, attribute, requested, where, name);
  open.info.sample_shape = nchw_shape(open.info.file_sample_shape, open.info.layout);
}

void validate_labels(OpenDataset& open, const std::string& where, const std::string& name,
                     const std::string& features) {
  const auto shape = dataset_shape(open.labels.get());
  h5::Datatype type{LOCKSTEP_HDF5_CHECK(H5Dget_type(open.labels.get()))};
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_INTEGER && (shape.size() == 1 || shape.size() == 3)) {
    open.info.label_kind = LabelKind::kClassIds;
    open.info.target_dim = 1;
    open.info.label_shape.assign(shape.begin() + 1, shape.end());
    const auto& s = open.info.sample_shape;
    LOCKSTEP_CHECK(shape.size() == 1 || (s.size() == 3 && s[1] == shape[1] && s[2] == shape[2]),
                   where << ": labels '" << name << "' have shape " << h5::shape_string(shape)
                         << " (class ids per pixel) but the samples of features '" << features
                         << "' have shape " << h5::shape_string(s) << "; expected (C, " << shape[1]
                         << ", " << shape[2] << ") images: one label per pixel");
    if (h5::has_attribute(open.labels.get(), "ignore_index")) {
      std::vector<int64_t> v;
      try {
        v = h5::read_int64s_attribute(open.labels.get(), "ignore_index");
      } catch (const Error& e) {
        LOCKSTEP_FAIL(where << ": labels '" << name << "': " << e.what());
      }
      LOCKSTEP_CHECK(v.size() == 1, where << ": labels '" << name
                                          << "': attribute ignore_index has " << v.size()
                                          << " values; expected one integer");
      open.info.ignore_index = static_cast<int32_t>(v[0]);
    }
  } else if (cls == H5T_FLOAT && shape.size() == 2 && shape[1] > 0) {
    open.info.label_kind = LabelKind::kTargets;
    open.info.target_dim = shape[1];
  } else {
    LOCKSTEP_FAIL(where << ": labels '" << name << "' have dtype " << h5::dtype_name(type.get())
                        << " and shape " << h5::shape_string(shape)
                        << "; expected integer class ids (N,) or float targets (N,k), or class "
                           "ids per pixel (N, H, W)");
  }
  LOCKSTEP_CHECK(shape[0] == open.info.num_samples,
                 where << ": count mismatch: features '" << features << "' have "
                       << open.info.num_samples << " rows but labels '" << name << "' have "
                       << shape[0] << "; expected the same count");
}

}  // namespace

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
  validate_features(open, where, spec.features, spec.layout);
  open.info.has_labels = !spec.labels.empty();
  if (!open.info.has_labels) return open;
  open.labels = open_member(open.file.get(), where, spec.labels,
                            "integer class ids (N,) or float targets (N,k), or class ids per "
                            "pixel (N, H, W)");
  validate_labels(open, where, spec.labels, spec.features);
  return open;
}

// Reads rows [begin, end) of `dataset` (shape (N, rest...)) into `buffer`.

}  // namespace lockstep::io::detail
