#pragma once
// Importers: foreign formats to lockstep HDF5 datasets.

#include <cstdint>
#include <optional>
#include <string>

#include "io/dataset.hpp"

namespace lockstep::io {

/// Reads an IDX images file (magic 0x00000803, uint8, (N, rows, cols)) and an IDX
/// labels file (0x00000801, uint8, (N,)), gzipped or not, into arrays with
/// sample shape (1, rows, cols). Validates magic numbers, sizes and truncation.
DatasetArrays read_idx(const std::string& images_path, const std::string& labels_path);

struct CsvOptions {
  std::string label_column;  // a header name, or a 0-based index; empty: last column
  bool has_header = true;
  char delimiter = ',';
  bool regression = false;     // labels as float targets (N, 1) instead of class ids
  std::string targets_path;    // labels from this file (same rows); every input column a feature
  double test_fraction = 0.0;  // 0: no split
  uint64_t seed = 0;           // for the split
};

struct CsvImport {
  DatasetArrays train;
  std::optional<DatasetArrays> test;  // present when test_fraction > 0
};

/// Reads a CSV file: numeric feature columns (float32, sample shape (F,)) and
/// one label column. Class labels must be integers >= 0, or are mapped from
/// strings to ids in order of first appearance (names kept in class_names).
/// Errors name the file, the line and the column.
/// With options.targets_path the labels come from that file instead (same row
/// count, same header and delimiter settings): all its columns as float targets
/// (N, k) with regression, else one column of integer class ids. CSV files may
/// be gzipped.
CsvImport read_csv(const std::string& path, const CsvOptions& options);

/// Reads a CSV file (gzipped or not) of numeric feature columns only: float32
/// features, sample shape (F,), no labels. The first row is a header when any
/// of its fields is not a number. Errors name the file, the line and the column.
DatasetArrays read_csv_features(const std::string& path, char delimiter = ',');

}  // namespace lockstep::io
