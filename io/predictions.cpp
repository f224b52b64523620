// Prediction files (see predictions.hpp).
//
// Decisions:
// - CSV goes through the same temporary-name, fsync, rename sequence as the
//   HDF5 writer (h5::write_atomically), so either format replaces a previous
//   file only when complete.
// - Numbers are printed with "%.9g" in the C locale's format: a float32 reads
//   back exactly, and the same values always give the same bytes.

#include "io/predictions.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>

#include "io/hdf5.hpp"

namespace lockstep::io {

namespace {

namespace fs = std::filesystem;

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// A CSV field: as it is, or double-quoted with "" escapes when it must be.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

void write_csv_rows(std::FILE* f, const PredictionTable& t) {
  const auto width = static_cast<size_t>(t.width);
  const bool named = t.classifier && !t.class_names.empty();
  if (t.classifier) {
    std::fputs(named ? "class,class_name" : "class", f);
    for (size_t c = 0; c < width; ++c) std::fprintf(f, ",prob_%zu", c);
  } else {
    for (size_t c = 0; c < width; ++c) std::fprintf(f, "%soutput_%zu", c ? "," : "", c);
  }
  std::fputc('\n', f);
  for (size_t r = 0; r < static_cast<size_t>(t.rows); ++r) {
    const float* v = t.values.data() + r * width;
    if (t.classifier) std::fprintf(f, "%d,", t.classes[r]);
    if (named) {
      std::fputs(csv_field(t.class_names[static_cast<size_t>(t.classes[r])]).c_str(), f);
      std::fputc(',', f);
    }
    for (size_t c = 0; c < width; ++c) {
      std::fprintf(f, c ? ",%.9g" : "%.9g", static_cast<double>(v[c]));
    }
    std::fputc('\n', f);
  }
}

void write_file_atomically(const std::string& path, const std::string& what,
                           const std::function<void(std::FILE*)>& write) {
  const std::string where = what + " '" + path + "'";
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::exists(parent, ec)) {
    fs::create_directories(parent, ec);
    LOCKSTEP_CHECK(!ec,
                   where << ": cannot create folder '" << parent.string() << "': " << ec.message());
  }
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  LOCKSTEP_CHECK(f, where << ": cannot create '" << tmp << "': " << std::strerror(errno));
  write(f);
  bool ok = std::fflush(f) == 0 && !std::ferror(f);
  const std::string reason = std::strerror(errno);
  ok = ok && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    fs::remove(tmp, ec);
    LOCKSTEP_FAIL(where << ": cannot write '" << tmp << "': " << reason);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    fs::remove(tmp, ec);
    LOCKSTEP_FAIL(where << ": cannot rename '" << tmp << "' to it: " << why);
  }
}

// A contiguous dataset `name` of `dims` from `data` (memory type `mem`).
void write_array(hid_t file, const char* name, hid_t file_type, hid_t mem,
                 const std::vector<hsize_t>& dims, const void* data) {
  h5::Dataspace space{
      LOCKSTEP_HDF5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr))};
  h5::Dataset ds{LOCKSTEP_HDF5_CHECK(
      H5Dcreate2(file, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT))};
  LOCKSTEP_HDF5_CHECK(H5Dwrite(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
}

}  // namespace

PredictionFormat prediction_format(const std::string& path, const char* option) {
  const std::string ext = lower_extension(path);
  if (ext == ".csv") return PredictionFormat::kCsv;
  if (ext == ".h5" || ext == ".hdf5") return PredictionFormat::kHdf5;
  LOCKSTEP_FAIL(option << " '" << path << "': extension '" << ext
                       << "'; expected .csv (CSV) or .h5 / .hdf5 (HDF5)");
}

void check_not_an_input(const std::string& out, const std::vector<std::string>& inputs) {
  std::error_code ec;
  for (const std::string& in : inputs) {
    const bool same =
        fs::absolute(out, ec).lexically_normal() == fs::absolute(in, ec).lexically_normal() ||
        (fs::exists(out, ec) && fs::equivalent(out, in, ec));
    LOCKSTEP_CHECK(!same, "--out '" << out << "' is the input file '" << in
                                    << "'; expected a different file (the input is never "
                                       "overwritten)");
  }
}

namespace {

void write_class_maps(const std::string& path, const PredictionTable& t) {
  LOCKSTEP_CHECK(t.map_shape.size() == 2 &&
                     t.classes.size() ==
                         static_cast<size_t>(t.rows * t.map_shape[0] * t.map_shape[1]),
                 "predictions file '" << path << "': " << t.classes.size()
                                      << " pixel classes for " << t.rows << " maps");
  LOCKSTEP_CHECK(prediction_format(path, "--out") == PredictionFormat::kHdf5,
                 "--out '" << path
                           << "': expected an .h5 / .hdf5 file for per-pixel class maps "
                              "(a segmentation model), got a CSV name");
  h5::write_atomically(path, "predictions file", [&](hid_t file) {
    write_array(file, "class", H5T_STD_I32LE, H5T_NATIVE_INT32,
                {static_cast<hsize_t>(t.rows), static_cast<hsize_t>(t.map_shape[0]),
                 static_cast<hsize_t>(t.map_shape[1])},
                t.classes.data());
    h5::write_string_attribute(file, "lockstep_format", "predictions/1");
    if (!t.class_names.empty()) h5::write_strings_attribute(file, "class_names", t.class_names);
    h5::write_string_attribute(file, "model", t.model);
    h5::write_string_attribute(file, "data", t.data);
  });
}

}  // namespace

void write_predictions(const std::string& path, const PredictionTable& t) {
  if (!t.map_shape.empty()) {
    write_class_maps(path, t);
    return;
  }
  const auto width = static_cast<size_t>(t.width);
  LOCKSTEP_CHECK(
      t.rows > 0 && t.width > 0 && t.values.size() == static_cast<size_t>(t.rows) * width &&
          (!t.classifier || t.classes.size() == static_cast<size_t>(t.rows)),
      "predictions file '" << path << "': " << t.values.size() << " values and " << t.classes.size()
                           << " classes for " << t.rows << " rows of width " << t.width);
  LOCKSTEP_CHECK(t.class_names.empty() || (t.classifier && t.class_names.size() == width),
                 "predictions file '" << path << "': " << t.class_names.size()
                                      << " class names for " << t.width << " classes");
  if (prediction_format(path, "--out") == PredictionFormat::kCsv) {
    write_file_atomically(path, "predictions file", [&](std::FILE* f) { write_csv_rows(f, t); });
    return;
  }
  h5::write_atomically(path, "predictions file", [&](hid_t file) {
    const auto n = static_cast<hsize_t>(t.rows);
    if (t.classifier) {
      write_array(file, "class", H5T_STD_I32LE, H5T_NATIVE_INT32, {n}, t.classes.data());
      write_array(file, "probabilities", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {n, width},
                  t.values.data());
    } else {
      write_array(file, "outputs", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {n, width}, t.values.data());
    }
    h5::write_string_attribute(file, "lockstep_format", "predictions/1");
    if (!t.class_names.empty()) h5::write_strings_attribute(file, "class_names", t.class_names);
    h5::write_string_attribute(file, "model", t.model);
    h5::write_string_attribute(file, "data", t.data);
  });
}

void write_text_atomically(const std::string& path, const std::string& what,
                           const std::string& text) {
  write_file_atomically(path, what, [&](std::FILE* f) { std::fputs(text.c_str(), f); });
}

}  // namespace lockstep::io
