// describe_file: a readable schema of an HDF5 file (see inspect.hpp).
//
// Decisions:
// - The walk is generic (every group and dataset, with dtype, shape, chunking,
//   filters and attributes), so it also explains files lockstep did not write.
// - The summary reuses the real readers (probe_dataset, load_model): what it
//   reports is what training would see. A summary that fails is printed as
//   "invalid: <reason>" instead of throwing, since that is what a user
//   inspecting a file wants to learn; a missing or non-HDF5 file still throws.
// - For datasets only the labels are read (for the class-id range), never the
//   features.

#include "io/inspect.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <sstream>
#include <type_traits>

#include "io/dataset.hpp"
#include "io/hdf5.hpp"
#include "io/model_file.hpp"

namespace lockstep::io {

namespace {

constexpr size_t kMaxText = 60;    // characters of a string attribute shown
constexpr size_t kMaxValues = 8;   // values of an array attribute shown
constexpr size_t kMaxParams = 40;  // layout entries listed for a model

herr_t collect_attribute(hid_t /*loc*/, const char* name, const H5A_info_t* /*info*/, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

std::string cut(const std::string& text) {
  const std::string line = text.substr(0, text.find('\n'));
  const auto lines =
      std::count(text.begin(), text.end(), '\n') + (text.empty() || text.back() != '\n' ? 1 : 0);
  std::ostringstream os;
  os << '"' << line.substr(0, kMaxText) << '"';
  if (line.size() > kMaxText) os << "...";
  if (lines > 1) os << " (" << lines << " lines)";
  return os.str();
}

template <class T>
std::string join_values(const std::vector<T>& values) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < values.size() && i < kMaxValues; ++i) {
    os << (i ? ", " : "");
    if constexpr (std::is_same_v<T, std::string>) {
      os << cut(values[i]);
    } else {
      os << values[i];
    }
  }
  if (values.size() > kMaxValues) os << ", ... (" << values.size() << " values)";
  os << "]";
  return os.str();
}

std::string attribute_value(hid_t loc, const std::string& name) {
  h5::Attribute attr{LOCKSTEP_HDF5_CHECK(H5Aopen(loc, name.c_str(), H5P_DEFAULT))};
  h5::Datatype type{LOCKSTEP_HDF5_CHECK(H5Aget_type(attr.get()))};
  h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Aget_space(attr.get()))};
  const bool scalar = H5Sget_simple_extent_type(space.get()) == H5S_SCALAR;
  const auto n =
      static_cast<size_t>(LOCKSTEP_HDF5_CHECK(H5Sget_simple_extent_npoints(space.get())));
  switch (H5Tget_class(type.get())) {
    case H5T_STRING: {
      const auto values = h5::read_strings_attribute(loc, name.c_str());
      return scalar && values.size() == 1 ? cut(values[0]) : join_values(values);
    }
    case H5T_INTEGER: {
      const auto values = h5::read_int64s_attribute(loc, name.c_str());
      return scalar && values.size() == 1 ? std::to_string(values[0]) : join_values(values);
    }
    case H5T_FLOAT: {
      std::vector<double> values(n);
      if (n > 0) LOCKSTEP_HDF5_CHECK(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, values.data()));
      return scalar && n == 1 ? std::to_string(values[0]) : join_values(values);
    }
    default: {
      std::ostringstream os;
      os << "<" << h5::dtype_name(type.get()) << ", " << n << " values>";
      return os.str();
    }
  }
}

void describe_attributes(std::ostringstream& os, hid_t loc, const std::string& indent) {
  std::vector<std::string> names;
  hsize_t index = 0;
  LOCKSTEP_HDF5_CHECK(
      H5Aiterate2(loc, H5_INDEX_NAME, H5_ITER_INC, &index, collect_attribute, &names));
  for (const auto& name : names) {
    os << indent << "@" << name << " = " << attribute_value(loc, name) << "\n";
  }
}

std::string storage(hid_t dataset) {
  h5::PropList dcpl{LOCKSTEP_HDF5_CHECK(H5Dget_create_plist(dataset))};
  std::ostringstream os;
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_CHUNKED) {
    const int rank = LOCKSTEP_HDF5_CHECK(H5Pget_chunk(dcpl.get(), 0, nullptr));
    std::vector<hsize_t> chunk(static_cast<size_t>(rank));
    LOCKSTEP_HDF5_CHECK(H5Pget_chunk(dcpl.get(), rank, chunk.data()));
    os << "chunks " << h5::shape_string({chunk.begin(), chunk.end()});
  } else {
    os << (layout == H5D_COMPACT ? "compact" : "contiguous");
  }
  const int filters = LOCKSTEP_HDF5_CHECK(H5Pget_nfilters(dcpl.get()));
  for (int i = 0; i < filters; ++i) {
    unsigned flags = 0;
    unsigned config = 0;
    size_t nvalues = 4;
    unsigned values[4] = {0, 0, 0, 0};
    char name[64] = {0};
    const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nvalues,
                                           values, sizeof(name), name, &config);
    if (id == H5Z_FILTER_DEFLATE) {
      os << ", gzip " << (nvalues > 0 ? values[0] : 0);
    } else if (id == H5Z_FILTER_SHUFFLE) {
      os << ", shuffle";
    } else {
      os << ", filter " << (name[0] != '\0' ? name : std::to_string(id));
    }
  }
  return os.str();
}

void describe_dataset_summary(std::ostringstream& os, const std::string& path) {
  const DatasetSpec spec{path};
  const DatasetInfo info = probe_dataset(spec);
  os << "  samples: " << info.num_samples << "\n"
     << "  sample shape: " << h5::shape_string(info.sample_shape) << " "
     << to_string(info.feature_type);
  if (info.sample_shape.size() == 3) os << ", stored " << to_string(info.layout);
  os << "\n";
  if (info.label_kind == LabelKind::kTargets) {
    os << "  labels: float targets, " << info.target_dim << " per sample\n";
    return;
  }
  // The labels in blocks of about 1M values (per-pixel labels can be large).
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 20) / info.label_size());
  int32_t lo = std::numeric_limits<int32_t>::max();
  int32_t hi = std::numeric_limits<int32_t>::min();
  std::vector<int32_t> values;
  for (int64_t begin = 0; begin < info.num_samples; begin += block) {
    const int64_t end = std::min(info.num_samples, begin + block);
    const Shard shard = Shard::load(spec, begin, end, /*with_features=*/false);
    std::vector<int64_t> rows(static_cast<size_t>(end - begin));
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
    values.resize(rows.size() * static_cast<size_t>(info.label_size()));
    shard.gather_labels(rows, values);
    for (int32_t v : values) {
      if (info.ignore_index && v == *info.ignore_index) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  os << "  labels: class ids";
  if (info.per_pixel()) os << " per pixel " << h5::shape_string(info.label_shape);
  if (lo > hi) {
    os << ", none but the ignore_index";
  } else {
    os << " " << lo << ".." << hi << " (" << (hi + 1) << " classes if 0-based)";
  }
  if (info.ignore_index) os << ", ignore_index " << *info.ignore_index;
  os << "\n";
  if (!info.class_names.empty()) os << "  class names: " << join_values(info.class_names) << "\n";
}

void describe_model_summary(std::ostringstream& os, const std::string& path) {
  const SavedModel model = load_model(path);
  os << "  layers: " << model.layers << "\n"
     << "  input shape: " << h5::shape_string(model.input_shape) << "\n"
     << "  loss: " << model.loss << ", outputs: " << model.num_outputs << "\n"
     << "  parameters: " << model.parameters.size() << " in " << model.layout.size()
     << " tensors\n";
  for (size_t i = 0; i < model.layout.size() && i < kMaxParams; ++i) {
    const auto& p = model.layout[i];
    os << "    " << p.name << " " << h5::shape_string(p.shape) << " at " << p.offset << "\n";
  }
  if (model.layout.size() > kMaxParams) {
    os << "    ... (" << model.layout.size() - kMaxParams << " more)\n";
  }
  if (!model.buffers.empty()) os << "  buffers: " << model.buffers.size() << " values\n";
}

}  // namespace

std::string describe_file(const std::string& path) {
  namespace fs = std::filesystem;
  h5::silence_errors();
  std::error_code ec;
  LOCKSTEP_CHECK(fs::exists(path, ec), "file '" << path << "': no such file");
  LOCKSTEP_CHECK(H5Fis_hdf5(path.c_str()) > 0, "file '" << path << "': not an HDF5 file");
  h5::File file{h5::open_read_only(path, "file '" + path + "'")};
  const hid_t f = file.get();

  std::string format;
  if (h5::has_attribute(f, "lockstep_format"))
    format = h5::read_string_attribute(f, "lockstep_format");
  std::ostringstream os;
  os << "file: " << path << "\n";
  if (format.empty()) {
    os << "kind: HDF5 file (no lockstep_format attribute)\n";
  } else {
    os << "kind: lockstep " << format.substr(0, format.find('/')) << " (lockstep_format \""
       << format << "\")\n";
  }
  os << "/\n";
  describe_attributes(os, f, "  ");
  for (const auto& entry : h5::list_objects(f)) {
    h5::Object obj{LOCKSTEP_HDF5_CHECK(H5Oopen(f, entry.path.c_str(), H5P_DEFAULT))};
    if (entry.type == H5I_DATASET) {
      h5::Datatype type{LOCKSTEP_HDF5_CHECK(H5Dget_type(obj.get()))};
      h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Dget_space(obj.get()))};
      os << entry.path << "  dataset " << h5::dtype_name(type.get()) << " "
         << h5::shape_string(h5::extent(space.get())) << ", " << storage(obj.get()) << "\n";
    } else {
      os << entry.path << (entry.type == H5I_GROUP ? "  group" : "  other") << "\n";
    }
    describe_attributes(os, obj.get(), "  ");
  }

  if (format.rfind("dataset/", 0) == 0 || format.rfind("model/", 0) == 0) {
    os << "summary:\n";
    try {
      if (format.rfind("dataset/", 0) == 0) {
        describe_dataset_summary(os, path);
      } else {
        describe_model_summary(os, path);
      }
    } catch (const Error& e) {
      os << "  invalid: " << e.what() << "\n";
    }
  }
  return os.str();
}

}  // namespace lockstep::io
