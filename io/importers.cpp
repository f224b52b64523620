// Importers: IDX (MNIST / Fashion-MNIST) and CSV to DatasetArrays (see importers.hpp).
//
// Decisions:
// - IDX files are read whole through zlib's gzopen/gzread, which reads gzipped
//   and plain files alike; sizes come from the header and are checked against
//   the bytes actually read, so a truncated download fails with both numbers.
// - CSV parsing lives in csv_parse.cpp (shared with prediction inputs); CSV
//   files may be gzipped. Targets may come from a separate file of the same
//   row count (every column of the features file is then a feature).
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
#include "io/csv_parse.hpp"

namespace lockstep::io {

namespace {

// ---------------------------------------------------------------- IDX

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

// Fills arrays.labels / targets / class_names from the raw label cells.
void convert_labels(const csv::Rows& rows, const CsvOptions& options, const std::string& path,
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
      LOCKSTEP_CHECK(
          csv::parse_double(rows.labels[i], v) && std::isfinite(static_cast<float>(v)),
          where(i) << ": '" << rows.labels[i] << "' is not a finite float32 number (|x| < 3.4e38)");
      arrays.targets.push_back(static_cast<float>(v));
    }
    return;
  }
  arrays.label_kind = LabelKind::kClassIds;
  bool all_ids = true;  // integers, or integral floats such as "2.0" (pandas writes them)
  bool all_numbers = true;
  std::vector<double> numbers(n);
  for (size_t i = 0; i < n; ++i) {
    const bool number = csv::parse_double(rows.labels[i], numbers[i]) && std::isfinite(numbers[i]);
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

// Fills arrays' labels from the separate targets file: every column a target
// (regression), or one column of integer class ids.
void read_target_file(const CsvOptions& options, int64_t n, const std::string& path,
                      DatasetArrays& arrays) {
  csv::ParseOptions parse;
  parse.header = options.has_header ? csv::Header::kYes : csv::Header::kNo;
  parse.delimiter = options.delimiter;
  parse.with_label = false;
  const std::string& tpath = options.targets_path;
  const csv::Rows t = csv::parse(tpath, parse);
  LOCKSTEP_CHECK(t.count() == n, "CSV targets file '" << tpath << "' has " << t.count()
                                                      << " rows but the features file '" << path
                                                      << "' has " << n
                                                      << "; expected the same count");
  if (options.regression) {
    arrays.label_kind = LabelKind::kTargets;
    arrays.target_dim = t.features;
    arrays.targets = t.values;
    return;
  }
  LOCKSTEP_CHECK(t.features == 1, "CSV targets file '"
                                      << tpath << "' has " << t.features
                                      << " columns; expected 1 column of class ids (or use "
                                         "regression for float targets)");
  arrays.label_kind = LabelKind::kClassIds;
  for (size_t i = 0; i < t.values.size(); ++i) {
    const float v = t.values[i];
    LOCKSTEP_CHECK(v >= 0 && v == std::floor(v) && v <= 16777216.0f,
                   "CSV targets file " << tpath << ":" << t.lines[i] << ": '" << v
                                       << "' is not a class id; expected an integer >= 0 (or "
                                          "use regression for float targets)");
    arrays.labels.push_back(static_cast<int32_t>(v));
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
  const auto images = csv::read_whole_file(images_path, images_where);
  const auto image_shape = idx_header(images, images_where, 0x00000803, 3);
  const auto labels = csv::read_whole_file(labels_path, labels_where);
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
  csv::ParseOptions parse;
  parse.header = options.has_header ? csv::Header::kYes : csv::Header::kNo;
  parse.delimiter = options.delimiter;
  parse.with_label = options.targets_path.empty();
  parse.label_column = options.label_column;
  const csv::Rows rows = csv::parse(path, parse);
  DatasetArrays all;
  all.feature_type = FeatureType::kFloat32;
  all.sample_shape = {rows.features};
  all.features_f32 = rows.values;
  if (parse.with_label) {
    convert_labels(rows, options, path, all);
  } else {
    LOCKSTEP_CHECK(options.label_column.empty(),
                   "CSV import of '" << path << "': a label column ('" << options.label_column
                                     << "') and a targets file ('" << options.targets_path
                                     << "'); expected one of them");
    read_target_file(options, rows.count(), path, all);
  }

  CsvImport result;
  const int64_t n = rows.count();
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

DatasetArrays read_csv_features(const std::string& path, char delimiter) {
  csv::ParseOptions parse;
  parse.header = csv::Header::kAuto;
  parse.delimiter = delimiter;
  parse.with_label = false;
  const csv::Rows rows = csv::parse(path, parse);
  DatasetArrays arrays;
  arrays.feature_type = FeatureType::kFloat32;
  arrays.sample_shape = {rows.features};
  arrays.features_f32 = rows.values;
  return arrays;
}

}  // namespace lockstep::io
