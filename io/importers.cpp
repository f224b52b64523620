// Importers: IDX (MNIST / Fashion-MNIST) and CSV to DatasetArrays (see importers.hpp).
//
// Decisions:
// - IDX files are read whole through zlib's gzopen/gzread, which reads gzipped
//   and plain files alike; sizes come from the header and are checked against
//   the bytes actually read, so a truncated download fails with both numbers.
// - CSV parsing is deliberately small: one record per line, fields split on the
//   delimiter, double-quoted fields with "" escapes, CRLF and blank lines
//   tolerated. Numbers go through std::from_chars (locale independent).
// - Class labels: all integers >= 0 (or integral floats like "2.0") are used as
//   ids; otherwise labels are names
//   mapped to ids in order of first appearance. Labels that are all numbers but
//   not all integers are an error that points to `regression`, rather than
//   silently becoming one class per distinct value.
// - The train/test split shuffles row indices with Rng(hash_keys({seed})) and
//   keeps each part in file order.

#include "io/importers.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lockstep::io {

namespace {

// ---------------------------------------------------------------- IDX

struct GzClose {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

std::vector<uint8_t> read_whole_file(const std::string& path, const std::string& where) {
  std::error_code ec;
  LOCKSTEP_CHECK(std::filesystem::exists(path, ec), where << ": no such file");
  std::unique_ptr<gzFile_s, GzClose> file(gzopen(path.c_str(), "rb"));
  LOCKSTEP_CHECK(file != nullptr, where << ": cannot open: " << std::strerror(errno));
  std::vector<uint8_t> data;
  constexpr size_t kBlock = size_t{1} << 20;
  for (;;) {
    const size_t old = data.size();
    data.resize(old + kBlock);
    const int got = gzread(file.get(), data.data() + old, static_cast<unsigned>(kBlock));
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      LOCKSTEP_FAIL(where << ": cannot read (corrupt or truncated gzip data?): " << message);
    }
    data.resize(old + static_cast<size_t>(got));
    if (got == 0) break;
  }
  return data;
}

uint32_t big_endian_u32(const std::vector<uint8_t>& data, size_t offset) {
  return (uint32_t{data[offset]} << 24) | (uint32_t{data[offset + 1]} << 16) |
         (uint32_t{data[offset + 2]} << 8) | uint32_t{data[offset + 3]};
}

// Validates the header of an IDX file of uint8 values with `dims` dimensions
// and returns the dimensions.
std::vector<uint64_t> idx_header(const std::vector<uint8_t>& data, const std::string& where,
                                 uint32_t magic, int dims) {
  const size_t header = 4 + 4 * static_cast<size_t>(dims);
  LOCKSTEP_CHECK(data.size() >= 4, where << ": truncated: expected at least " << header
                                         << " header bytes, found " << data.size());
  const uint32_t found = big_endian_u32(data, 0);
  if (found != magic) {
    std::ostringstream os;
    os << std::hex << std::setfill('0') << "0x" << std::setw(8) << found << "; expected 0x"
       << std::setw(8) << magic;
    LOCKSTEP_FAIL(where << ": bad magic number " << os.str() << " (IDX uint8 data with " << dims
                        << (dims == 1 ? " dimension)" : " dimensions)"));
  }
  LOCKSTEP_CHECK(data.size() >= header, where << ": truncated: expected at least " << header
                                              << " header bytes, found " << data.size());
  std::vector<uint64_t> shape;
  uint64_t values = 1;
  for (int d = 0; d < dims; ++d) {
    shape.push_back(big_endian_u32(data, 4 + 4 * static_cast<size_t>(d)));
    values *= shape.back();  // at most 3 factors below 2^32 each: checked below
  }
  const uint64_t expected = header + values;
  LOCKSTEP_CHECK(shape[0] > 0, where << ": the header says 0 items; expected at least one");
  LOCKSTEP_CHECK(expected == data.size(),
                 where << (data.size() < expected ? ": truncated" : ": size mismatch")
                       << ": expected " << expected << " bytes from the header, found "
                       << data.size());
  return shape;
}

// ---------------------------------------------------------------- CSV

std::string trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split_fields(const std::string& line, char delim,
                                      const std::string& where) {
  std::vector<std::string> fields;
  size_t i = 0;
  for (;;) {
    while (i < line.size() && line[i] == ' ' && delim != ' ') ++i;
    if (i < line.size() && line[i] == '"') {
      std::string field;
      ++i;
      for (;;) {
        LOCKSTEP_CHECK(i < line.size(), where << ": unterminated quoted field");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      const size_t next = line.find(delim, i);
      LOCKSTEP_CHECK(trim(std::string_view(line).substr(i, next - i)).empty(),
                     where << ": unexpected text after a quoted field");
      fields.push_back(std::move(field));
      if (next == std::string::npos) break;
      i = next + 1;
    } else {
      const size_t next = line.find(delim, i);
      fields.push_back(trim(std::string_view(line).substr(i, next - i)));
      if (next == std::string::npos) break;
      i = next + 1;
    }
  }
  return fields;
}

bool parse_double(const std::string& s, double& value) {
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (first != last && *first == '+') ++first;
  if (first == last) return false;
  const auto [ptr, ec] = std::from_chars(first, last, value);
  return ec == std::errc() && ptr == last;
}

bool parse_int(const std::string& s, int64_t& value) {
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (first != last && *first == '+') ++first;
  if (first == last) return false;
  const auto [ptr, ec] = std::from_chars(first, last, value);
  return ec == std::errc() && ptr == last;
}

// The label column index for `spec` among `names` (header names or indices).
size_t find_label_column(const std::string& spec, const std::vector<std::string>& names,
                         bool has_header, const std::string& path) {
  if (spec.empty()) return names.size() - 1;
  if (has_header) {
    const auto it = std::find(names.begin(), names.end(), spec);
    if (it != names.end()) return static_cast<size_t>(it - names.begin());
  }
  int64_t index = -1;
  if (spec.find_first_not_of("0123456789") == std::string::npos && parse_int(spec, index) &&
      index < static_cast<int64_t>(names.size())) {
    return static_cast<size_t>(index);
  }
  std::ostringstream available;
  for (size_t i = 0; i < names.size(); ++i) {
    available << (i ? ", " : "") << (has_header ? names[i] : std::to_string(i));
  }
  LOCKSTEP_FAIL("CSV file '" << path << "': label column '" << spec << "' not found; columns ("
                             << names.size() << "): " << available.str());
}

struct CsvRows {
  std::vector<std::string> names;  // header names, or "column i"
  size_t label_column = 0;
  int64_t features = 0;             // feature columns per row
  std::vector<float> values;        // (rows, features)
  std::vector<std::string> labels;  // raw label cells
  std::vector<int64_t> lines;       // 1-based line number of each row
};

CsvRows parse_csv(const std::string& path, const CsvOptions& options) {
  std::error_code ec;
  LOCKSTEP_CHECK(std::filesystem::exists(path, ec), "CSV file '" << path << "': no such file");
  std::ifstream in(path, std::ios::binary);
  LOCKSTEP_CHECK(in, "CSV file '" << path << "': cannot open: " << std::strerror(errno));
  CsvRows rows;
  bool have_columns = false;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::string where = "CSV file " + path + ":" + std::to_string(line_no);
    auto fields = split_fields(line, options.delimiter, where);
    if (!have_columns) {
      LOCKSTEP_CHECK(fields.size() >= 2, where << ": found " << fields.size()
                                               << " column(s); expected at least 2 (features "
                                                  "and a label), separated by '"
                                               << options.delimiter << "'");
      have_columns = true;
      for (size_t i = 0; i < fields.size(); ++i) {
        rows.names.push_back(options.has_header ? fields[i] : "column " + std::to_string(i));
      }
      rows.label_column = find_label_column(
          options.label_column, options.has_header ? fields : rows.names, options.has_header, path);
      rows.features = static_cast<int64_t>(fields.size()) - 1;
      if (options.has_header) continue;
    }
    LOCKSTEP_CHECK(fields.size() == rows.names.size(), where << ": found " << fields.size()
                                                             << " fields; expected "
                                                             << rows.names.size());
    for (size_t c = 0; c < fields.size(); ++c) {
      if (c == rows.label_column) continue;
      double v = 0;
      LOCKSTEP_CHECK(parse_double(fields[c], v) && std::isfinite(v),
                     where << ": column '" << rows.names[c] << "': '" << fields[c]
                           << "' is not a finite number");
      rows.values.push_back(static_cast<float>(v));
    }
    rows.labels.push_back(std::move(fields[rows.label_column]));
    rows.lines.push_back(line_no);
  }
  LOCKSTEP_CHECK(!rows.labels.empty(), "CSV file '" << path << "': no data rows");
  return rows;
}

// Fills arrays.labels / targets / class_names from the raw label cells.
void convert_labels(const CsvRows& rows, const CsvOptions& options, const std::string& path,
                    DatasetArrays& arrays) {
  const std::string column = rows.names[rows.label_column];
  const auto where = [&](size_t i) {
    return "CSV file " + path + ":" + std::to_string(rows.lines[i]) + ": label column '" + column +
           "'";
  };
  const size_t n = rows.labels.size();
  if (options.regression) {
    arrays.label_kind = LabelKind::kTargets;
    arrays.target_dim = 1;
    for (size_t i = 0; i < n; ++i) {
      double v = 0;
      LOCKSTEP_CHECK(parse_double(rows.labels[i], v) && std::isfinite(v),
                     where(i) << ": '" << rows.labels[i] << "' is not a finite number");
      arrays.targets.push_back(static_cast<float>(v));
    }
    return;
  }
  arrays.label_kind = LabelKind::kClassIds;
  bool all_ids = true;  // integers, or integral floats such as "2.0" (pandas writes them)
  bool all_numbers = true;
  std::vector<double> numbers(n);
  for (size_t i = 0; i < n; ++i) {
    const bool number = parse_double(rows.labels[i], numbers[i]) && std::isfinite(numbers[i]);
    all_numbers = all_numbers && number;
    all_ids = all_ids && number && numbers[i] == std::floor(numbers[i]);
  }
  if (all_ids) {
    for (size_t i = 0; i < n; ++i) {
      LOCKSTEP_CHECK(numbers[i] >= 0 && numbers[i] <= INT32_MAX,
                     where(i) << ": class id " << rows.labels[i] << "; expected an integer >= 0");
      arrays.labels.push_back(static_cast<int32_t>(numbers[i]));
    }
    return;
  }
  if (all_numbers) {
    for (size_t i = 0; i < n; ++i) {
      LOCKSTEP_CHECK(numbers[i] == std::floor(numbers[i]),
                     where(i) << ": '" << rows.labels[i]
                              << "' is not an integer class id; for float targets use regression");
    }
  }
  std::unordered_map<std::string, int32_t> ids;
  for (const auto& cell : rows.labels) {
    const auto [it, added] = ids.emplace(cell, static_cast<int32_t>(ids.size()));
    if (added) arrays.class_names.push_back(cell);
    arrays.labels.push_back(it->second);
  }
}

// The rows `keep` (in order) of `all`.
DatasetArrays take_rows(const DatasetArrays& all, const std::vector<int64_t>& keep) {
  DatasetArrays out;
  out.sample_shape = all.sample_shape;
  out.feature_type = all.feature_type;
  out.label_kind = all.label_kind;
  out.target_dim = all.target_dim;
  out.class_names = all.class_names;
  const auto f = static_cast<size_t>(all.sample_shape[0]);
  const auto k = static_cast<size_t>(all.target_dim);
  for (int64_t r : keep) {
    const auto row = static_cast<size_t>(r);
    const auto src = all.features_f32.begin() + static_cast<std::ptrdiff_t>(row * f);
    out.features_f32.insert(out.features_f32.end(), src, src + static_cast<std::ptrdiff_t>(f));
    if (all.label_kind == LabelKind::kClassIds) {
      out.labels.push_back(all.labels[row]);
    } else {
      const auto t = all.targets.begin() + static_cast<std::ptrdiff_t>(row * k);
      out.targets.insert(out.targets.end(), t, t + static_cast<std::ptrdiff_t>(k));
    }
  }
  return out;
}

}  // namespace

DatasetArrays read_idx(const std::string& images_path, const std::string& labels_path) {
  const std::string images_where = "IDX images file '" + images_path + "'";
  const std::string labels_where = "IDX labels file '" + labels_path + "'";
  const auto images = read_whole_file(images_path, images_where);
  const auto image_shape = idx_header(images, images_where, 0x00000803, 3);
  const auto labels = read_whole_file(labels_path, labels_where);
  const auto label_shape = idx_header(labels, labels_where, 0x00000801, 1);
  LOCKSTEP_CHECK(image_shape[0] == label_shape[0],
                 images_where << " has " << image_shape[0] << " images but " << labels_where
                              << " has " << label_shape[0] << " labels; expected the same count");
  DatasetArrays arrays;
  arrays.feature_type = FeatureType::kUint8;
  arrays.sample_shape = {1, static_cast<int64_t>(image_shape[1]),
                         static_cast<int64_t>(image_shape[2])};
  arrays.features_u8.assign(images.begin() + 16, images.end());
  arrays.label_kind = LabelKind::kClassIds;
  arrays.labels.assign(labels.begin() + 8, labels.end());
  return arrays;
}

CsvImport read_csv(const std::string& path, const CsvOptions& options) {
  LOCKSTEP_CHECK(std::isfinite(options.test_fraction) && options.test_fraction >= 0 &&
                     options.test_fraction < 1,
                 "CSV import of '" << path << "': test fraction " << options.test_fraction
                                   << "; expected 0 <= fraction < 1");
  const CsvRows rows = parse_csv(path, options);
  DatasetArrays all;
  all.feature_type = FeatureType::kFloat32;
  all.sample_shape = {rows.features};
  all.features_f32 = rows.values;
  convert_labels(rows, options, path, all);

  CsvImport result;
  const auto n = static_cast<int64_t>(rows.labels.size());
  if (options.test_fraction <= 0) {
    result.train = std::move(all);
    return result;
  }
  const int64_t n_test =
      std::max<int64_t>(1, std::llround(static_cast<double>(n) * options.test_fraction));
  LOCKSTEP_CHECK(n_test < n, "CSV file '" << path << "': a test fraction of "
                                          << options.test_fraction << " of " << n << " rows takes "
                                          << n_test << " test rows and leaves no training rows");
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  Rng rng(hash_keys({options.seed}));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  std::vector<int64_t> test(order.begin(), order.begin() + n_test);
  std::vector<int64_t> train(order.begin() + n_test, order.end());
  std::sort(test.begin(), test.end());
  std::sort(train.begin(), train.end());
  result.train = take_rows(all, train);
  result.test = take_rows(all, test);
  return result;
}

}  // namespace lockstep::io
