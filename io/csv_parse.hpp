#pragma once
// Internal to io/: reading whole (optionally gzipped) files and the small CSV
// parser the importers and prediction inputs share.

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep::io::csv {

/// The whole file, gunzipped when it is gzip data (plain files are read as is).
/// Errors start with `where`.
std::vector<uint8_t> read_whole_file(const std::string& path, const std::string& where);

bool parse_double(const std::string& s, double& value);
bool parse_int(const std::string& s, int64_t& value);

enum class Header { kYes, kNo, kAuto };  // kAuto: a header when a field of row 1 is not a number

struct ParseOptions {
  Header header = Header::kYes;
  char delimiter = ',';
  bool with_label = true;    // one column is the label (kept as text), the rest features
  std::string label_column;  // header name or 0-based index; empty: the last column
};

struct Rows {
  std::vector<std::string> names;   // header names, or "column i"
  size_t label_column = 0;          // names.size() when there is no label column
  int64_t features = 0;             // feature columns per row
  std::vector<float> values;        // (rows, features)
  std::vector<std::string> labels;  // raw label cells (with_label)
  std::vector<int64_t> lines;       // 1-based line number of each row
  int64_t count() const { return static_cast<int64_t>(lines.size()); }
};

/// Parses a CSV file (gzipped or plain): one record per line, double-quoted
/// fields with "" escapes, CRLF and blank lines tolerated; every feature cell
/// must be a finite number. Errors name the file, the line and the column.
Rows parse(const std::string& path, const ParseOptions& options);

}  // namespace lockstep::io::csv
