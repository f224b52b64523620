// The saved-model file (format in model_file.hpp).
//
// Decisions:
// - The layout is validated on both sides: save refuses a layout that does not
//   fit the slab (a bug in the caller), load refuses one that does not fit the
//   file's slab (a damaged or foreign file), each naming the entry.
// - Shapes are stored as "256x784" strings (h5py-friendly, no ragged arrays);
//   a scalar parameter has the empty string.
// - The slab is stored contiguous and uncompressed: it is read and written
//   whole, and float weights compress poorly.
// - Integrity: every array carries a `crc32` attribute (io/checksum.hpp), the
//   root group one over its description attributes, /optimizer one over its
//   name and step count. Load verifies each one present and names the dataset
//   on a mismatch. A file without the root `crc32` (written before checksums
//   existed) loads unverified; a file with it must have all the others.

#include "io/model_file.hpp"

#include <charconv>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "io/checksum.hpp"
#include "io/hdf5.hpp"

namespace lockstep::io {

namespace {

constexpr const char* kFormat = "model/1";
constexpr const char* kCheckpointFormat = "checkpoint/1";
constexpr const char* kCrc = "crc32";

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += 'x';
    out += std::to_string(shape[i]);
  }
  return out;
}

bool parse_shape(const std::string& text, std::vector<int64_t>& shape) {
  shape.clear();
  if (text.empty()) return true;
  size_t pos = 0;
  for (;;) {
    const size_t next = std::min(text.find('x', pos), text.size());
    int64_t d = -1;
    const auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + next, d);
    if (ec != std::errc() || ptr != text.data() + next || d < 0) return false;
    shape.push_back(d);
    if (next == text.size()) return true;
    pos = next + 1;
  }
}

// Element count of `shape`, saturated at limit + 1 (a corrupt file cannot overflow);
// -1 for a negative dimension.
int64_t element_count(const std::vector<int64_t>& shape, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d == 0) return 0;
    n = n > limit / d ? limit + 1 : n * d;
  }
  return n;
}

void check_layout(const std::vector<ParamEntry>& layout, size_t slab_size,
                  const std::string& where) {
  const auto slab = static_cast<int64_t>(slab_size);
  for (const auto& p : layout) {
    const int64_t n = element_count(p.shape, slab);
    LOCKSTEP_CHECK(p.offset >= 0 && n >= 0 && p.offset <= slab && n <= slab - p.offset,
                   where << ": parameter '" << p.name << "' (shape '" << shape_text(p.shape)
                         << "', offset " << p.offset << ") lies outside the parameter slab of "
                         << slab << " values");
  }
}

// Attaches the `crc32` attribute to the object `name` below `loc` ("." for `loc`).
void write_crc(hid_t loc, const char* name, uint32_t crc) {
  h5::Object obj{LOCKSTEP_HDF5_CHECK(H5Oopen(loc, name, H5P_DEFAULT))};
  h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Screate(H5S_SCALAR))};
  h5::Attribute attr{LOCKSTEP_HDF5_CHECK(
      H5Acreate2(obj.get(), kCrc, H5T_STD_U32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT))};
  LOCKSTEP_HDF5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_UINT32, &crc));
}

// Compares the stored `crc32` of object `name` (an absolute path, "/" for the
// root) with `computed`. Without the attribute: an error when `required`.
void verify_crc(hid_t file, const std::string& name, uint32_t computed, bool required,
                const std::string& path) {
  h5::Object obj{LOCKSTEP_HDF5_CHECK(H5Oopen(file, name.c_str(), H5P_DEFAULT))};
  const std::string what = name == "/"            ? "the root attributes"
                           : name == "/optimizer" ? "the attributes of /optimizer"
                                                  : name;
  if (!h5::has_attribute(obj.get(), kCrc)) {
    LOCKSTEP_CHECK(!required, "checksum missing on " << what << " of " << path
                                                     << ": expected a 'crc32' attribute (the "
                                                        "root group has one): the file is corrupt");
    return;
  }
  const auto stored = h5::read_int64s_attribute(obj.get(), kCrc);
  LOCKSTEP_CHECK(stored.size() == 1 && stored[0] == static_cast<int64_t>(computed),
                 "checksum mismatch in "
                     << what << " of " << path << ": expected "
                     << (stored.size() == 1 ? checksum_text(static_cast<uint32_t>(stored[0]))
                                            : std::string("one value"))
                     << ", found " << checksum_text(computed) << ": the file is corrupt");
}

// The checksum of the root attributes: each value on its own line, in a fixed
// order (README "File formats").
uint32_t description_crc(const SavedModel& m) {
  Crc32 crc;
  crc.line(m.layers).line(m.loss).line(shape_text(m.input_shape));
  crc.line(std::to_string(m.num_outputs)).line(m.config).line(std::to_string(m.buffers.size()));
  if (m.training) {
    const TrainingState& t = *m.training;
    for (int64_t v : {t.step, t.epoch, t.step_in_epoch, t.world_size, t.seed})
      crc.line(std::to_string(v));
  }
  if (m.best) {  // the value as its exact bits: no rounding in the text
    uint64_t bits = 0;
    std::memcpy(&bits, &m.best->value, sizeof bits);
    crc.line(m.best->metric).line(std::to_string(bits));
    crc.line(std::to_string(m.best->epoch)).line(std::to_string(m.best->bad_epochs));
  }
  for (const auto& name : m.class_names) crc.line(name);  // absent in older files
  return crc.value();
}

uint32_t optimizer_crc(const TrainingState& t) {
  Crc32 crc;
  crc.line(t.optimizer).line(std::to_string(t.optimizer_steps));
  for (const auto& slab : t.optimizer_slabs) crc.line(slab.first);
  return crc.value();
}

void write_floats(hid_t loc, const char* name, const std::vector<float>& values) {
  const hsize_t dims[1] = {values.size()};
  h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Screate_simple(1, dims, nullptr))};
  h5::Dataset ds{LOCKSTEP_HDF5_CHECK(
      H5Dcreate2(loc, name, H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT))};
  if (!values.empty()) {
    LOCKSTEP_HDF5_CHECK(
        H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  }
  write_crc(loc, name, Crc32().floats(values).value());
}

void write_int64s(hid_t loc, const char* name, const std::vector<int64_t>& values) {
  const hsize_t dims[1] = {values.size()};
  h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Screate_simple(1, dims, nullptr))};
  h5::Dataset ds{LOCKSTEP_HDF5_CHECK(
      H5Dcreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT))};
  if (!values.empty()) {
    LOCKSTEP_HDF5_CHECK(
        H5Dwrite(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  }
  write_crc(loc, name, Crc32().int64s(values).value());
}

void write_strings(hid_t loc, const char* name, const std::vector<std::string>& values) {
  h5::write_strings_dataset(loc, name, values);
  write_crc(loc, name, Crc32().lines(values).value());
}

// Reads the 1-D numeric dataset `name` (of HDF5 class `cls`) as `mem_type`.
template <class T>
std::vector<T> read_vector(hid_t file, const std::string& name, H5T_class_t cls, hid_t mem_type,
                           const std::string& where) {
  LOCKSTEP_CHECK(h5::object_type(file, name) == H5I_DATASET,
                 where << ": no dataset '" << name << "'");
  h5::Dataset ds{LOCKSTEP_HDF5_CHECK(H5Dopen2(file, name.c_str(), H5P_DEFAULT))};
  h5::Datatype type{LOCKSTEP_HDF5_CHECK(H5Dget_type(ds.get()))};
  h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Dget_space(ds.get()))};
  const auto shape = h5::extent(space.get());
  LOCKSTEP_CHECK(H5Tget_class(type.get()) == cls && shape.size() == 1,
                 where << ": dataset '" << name << "' is " << h5::dtype_name(type.get()) << " "
                       << h5::shape_string(shape) << "; expected a 1-D "
                       << (cls == H5T_FLOAT ? "float" : "integer") << " array");
  // A damaged header can claim more values than a contiguous array of this
  // file can hold: refuse before allocating.
  h5::PropList dcpl{LOCKSTEP_HDF5_CHECK(H5Dget_create_plist(ds.get()))};
  hsize_t file_size = 0;
  LOCKSTEP_HDF5_CHECK(H5Fget_filesize(file, &file_size));
  LOCKSTEP_CHECK(H5Pget_layout(dcpl.get()) != H5D_CONTIGUOUS ||
                     static_cast<uint64_t>(shape[0]) <= file_size / sizeof(T),
                 where << ": dataset '" << name << "' claims " << shape[0]
                       << " values, more than the file's " << file_size
                       << " bytes hold: the file is corrupt");
  std::vector<T> values(static_cast<size_t>(shape[0]));
  if (!values.empty()) {
    LOCKSTEP_HDF5_CHECK(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  }
  return values;
}

std::string required_string(hid_t file, const char* name, const std::string& where) {
  LOCKSTEP_CHECK(h5::has_attribute(file, name), where << ": missing attribute '" << name << "'");
  return h5::read_string_attribute(file, name);
}

}  // namespace

void save_model(const std::string& path, const SavedModel& model) {
  const std::string where = "model file '" + path + "'";
  check_layout(model.layout, model.parameters.size(), where);
  h5::write_atomically(
      path, "model file",
      [&](hid_t file) {
        h5::write_string_attribute(file, "lockstep_format",
                                   model.training ? kCheckpointFormat : kFormat);
        h5::write_string_attribute(file, "layers", model.layers);
        h5::write_int64s_attribute(file, "input_shape", model.input_shape);
        h5::write_string_attribute(file, "loss", model.loss);
        h5::write_int64_attribute(file, "num_outputs", model.num_outputs);
        h5::write_string_attribute(file, "config", model.config);
        write_floats(file, "parameters", model.parameters);

        std::vector<std::string> names;
        std::vector<int64_t> offsets;
        std::vector<std::string> shapes;
        for (const auto& p : model.layout) {
          names.push_back(p.name);
          offsets.push_back(p.offset);
          shapes.push_back(shape_text(p.shape));
        }
        h5::Group layout{
            LOCKSTEP_HDF5_CHECK(H5Gcreate2(file, "layout", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT))};
        write_strings(layout.get(), "names", names);
        write_int64s(layout.get(), "offsets", offsets);
        write_strings(layout.get(), "shapes", shapes);
        if (!model.buffers.empty()) write_floats(file, "buffers", model.buffers);
        if (!model.class_names.empty())
          h5::write_strings_attribute(file, "class_names", model.class_names);
        if (model.best) {
          h5::write_string_attribute(file, "best_metric", model.best->metric);
          h5::write_double_attribute(file, "best_value", model.best->value);
          h5::write_int64_attribute(file, "best_epoch", model.best->epoch);
          h5::write_int64_attribute(file, "bad_epochs", model.best->bad_epochs);
        }
        if (model.training) {
          const TrainingState& t = *model.training;
          h5::write_int64_attribute(file, "step", t.step);
          h5::write_int64_attribute(file, "epoch", t.epoch);
          h5::write_int64_attribute(file, "step_in_epoch", t.step_in_epoch);
          h5::write_int64_attribute(file, "world_size", t.world_size);
          h5::write_int64_attribute(file, "seed", t.seed);
          h5::Group opt{LOCKSTEP_HDF5_CHECK(
              H5Gcreate2(file, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT))};
          h5::write_string_attribute(opt.get(), "name", t.optimizer);
          h5::write_int64_attribute(opt.get(), "steps", t.optimizer_steps);
          write_crc(opt.get(), ".", optimizer_crc(t));
          for (const auto& [name, values] : t.optimizer_slabs) {
            LOCKSTEP_CHECK(values.size() == model.parameters.size(),
                           where << ": optimizer state '" << name << "' has " << values.size()
                                 << " values; expected " << model.parameters.size());
            write_floats(opt.get(), name.c_str(), values);
          }
        }
        write_crc(file, ".", description_crc(model));
      },
      /*in_memory=*/true);
}

namespace {

SavedModel load_model_unguarded(const std::string& path) {
  namespace fs = std::filesystem;
  h5::silence_errors();
  const std::string where = "model file '" + path + "'";
  std::error_code ec;
  LOCKSTEP_CHECK(fs::exists(path, ec), where << ": no such file");
  LOCKSTEP_CHECK(H5Fis_hdf5(path.c_str()) > 0, where << ": not an HDF5 file (or not readable)");
  h5::File file{h5::open_read_only(path, where)};
  const hid_t f = file.get();

  LOCKSTEP_CHECK(h5::has_attribute(f, "lockstep_format"),
                 where << ": no lockstep_format attribute; expected lockstep_format = '" << kFormat
                       << "' (a model saved by lockstep)");
  const std::string format = h5::read_string_attribute(f, "lockstep_format");
  LOCKSTEP_CHECK(format == kFormat || format == kCheckpointFormat,
                 where << ": lockstep_format is '" << format << "'; expected '" << kFormat
                       << "' or '" << kCheckpointFormat << "'");
  SavedModel model;
  model.layers = required_string(f, "layers", where);
  model.loss = required_string(f, "loss", where);
  LOCKSTEP_CHECK(h5::has_attribute(f, "input_shape"), where << ": missing attribute 'input_shape'");
  model.input_shape = h5::read_int64s_attribute(f, "input_shape");
  LOCKSTEP_CHECK(h5::has_attribute(f, "num_outputs"), where << ": missing attribute 'num_outputs'");
  const auto outputs = h5::read_int64s_attribute(f, "num_outputs");
  LOCKSTEP_CHECK(outputs.size() == 1, where << ": attribute 'num_outputs' has " << outputs.size()
                                            << " values; expected 1");
  model.num_outputs = outputs[0];
  if (h5::has_attribute(f, "config")) model.config = h5::read_string_attribute(f, "config");

  const bool verified = h5::has_attribute(f, kCrc);  // files written before checksums lack it
  model.parameters = read_vector<float>(f, "/parameters", H5T_FLOAT, H5T_NATIVE_FLOAT, where);
  verify_crc(f, "/parameters", Crc32().floats(model.parameters).value(), verified, path);
  LOCKSTEP_CHECK(h5::object_type(f, "/layout/names") == H5I_DATASET &&
                     h5::object_type(f, "/layout/shapes") == H5I_DATASET,
                 where << ": no dataset '/layout/names' or '/layout/shapes'");
  const auto names = h5::read_strings_dataset(f, "/layout/names");
  const auto shapes = h5::read_strings_dataset(f, "/layout/shapes");
  const auto offsets =
      read_vector<int64_t>(f, "/layout/offsets", H5T_INTEGER, H5T_NATIVE_INT64, where);
  verify_crc(f, "/layout/names", Crc32().lines(names).value(), verified, path);
  verify_crc(f, "/layout/offsets", Crc32().int64s(offsets).value(), verified, path);
  verify_crc(f, "/layout/shapes", Crc32().lines(shapes).value(), verified, path);
  LOCKSTEP_CHECK(names.size() == offsets.size() && names.size() == shapes.size(),
                 where << ": layout has " << names.size() << " names, " << offsets.size()
                       << " offsets and " << shapes.size() << " shapes; expected the same count");
  for (size_t i = 0; i < names.size(); ++i) {
    ParamEntry entry;
    entry.name = names[i];
    entry.offset = offsets[i];
    LOCKSTEP_CHECK(parse_shape(shapes[i], entry.shape),
                   where << ": parameter '" << names[i] << "' has shape '" << shapes[i]
                         << "'; expected dimensions joined by 'x', e.g. '256x784'");
    model.layout.push_back(std::move(entry));
  }
  check_layout(model.layout, model.parameters.size(), where);
  if (h5::object_type(f, "/buffers") == H5I_DATASET) {
    model.buffers = read_vector<float>(f, "/buffers", H5T_FLOAT, H5T_NATIVE_FLOAT, where);
    verify_crc(f, "/buffers", Crc32().floats(model.buffers).value(), verified, path);
  }
  if (h5::has_attribute(f, "class_names"))
    model.class_names = h5::read_strings_attribute(f, "class_names");
  if (h5::has_attribute(f, "best_metric")) {
    BestRecord b;
    b.metric = h5::read_string_attribute(f, "best_metric");
    for (const char* name : {"best_value", "best_epoch", "bad_epochs"})
      LOCKSTEP_CHECK(h5::has_attribute(f, name),
                     where << ": has 'best_metric' but lacks the attribute '" << name << "'");
    b.value = h5::read_double_attribute(f, "best_value");
    b.epoch = h5::read_int64s_attribute(f, "best_epoch").at(0);
    b.bad_epochs = h5::read_int64s_attribute(f, "bad_epochs").at(0);
    model.best = std::move(b);
  }
  if (format == kCheckpointFormat) {
    TrainingState t;
    auto scalar = [&](hid_t loc, const char* name) {
      LOCKSTEP_CHECK(h5::has_attribute(loc, name),
                     where << ": checkpoint lacks attribute '" << name << "'");
      const auto v = h5::read_int64s_attribute(loc, name);
      LOCKSTEP_CHECK(v.size() == 1, where << ": attribute '" << name << "' is not a scalar");
      return v[0];
    };
    t.step = scalar(f, "step");
    t.epoch = scalar(f, "epoch");
    t.step_in_epoch = scalar(f, "step_in_epoch");
    t.world_size = scalar(f, "world_size");
    t.seed = scalar(f, "seed");
    LOCKSTEP_CHECK(h5::object_type(f, "/optimizer") == H5I_GROUP,
                   where << ": checkpoint lacks the group '/optimizer'");
    h5::Group opt{LOCKSTEP_HDF5_CHECK(H5Gopen2(f, "/optimizer", H5P_DEFAULT))};
    t.optimizer = required_string(opt.get(), "name", where);
    t.optimizer_steps = scalar(opt.get(), "steps");
    for (const auto& entry : h5::list_objects(f)) {
      if (entry.type != H5I_DATASET || entry.path.rfind("/optimizer/", 0) != 0) continue;
      auto values = read_vector<float>(f, entry.path, H5T_FLOAT, H5T_NATIVE_FLOAT, where);
      verify_crc(f, entry.path, Crc32().floats(values).value(), verified, path);
      LOCKSTEP_CHECK(values.size() == model.parameters.size(),
                     where << ": optimizer state '" << entry.path << "' has " << values.size()
                           << " values; expected " << model.parameters.size());
      t.optimizer_slabs.emplace_back(entry.path.substr(11), std::move(values));
    }
    verify_crc(f, "/optimizer", optimizer_crc(t), verified, path);
    model.training = std::move(t);
  }
  verify_crc(f, "/", description_crc(model), verified, path);
  return model;
}

}  // namespace

SavedModel load_model(const std::string& path) {
  try {
    return load_model_unguarded(path);
  } catch (const std::bad_alloc&) {  // a damaged size: more values than memory holds
    throw Error("model file '" + path +
                "': an array or attribute claims more values than memory holds: the file is "
                "corrupt");
  } catch (const std::length_error&) {
    throw Error("model file '" + path +
                "': an array or attribute claims an impossible size: " + "the file is corrupt");
  }
}

}  // namespace lockstep::io
