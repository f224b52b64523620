// The CSV parser and whole-file reader shared by the importers and prediction
// inputs (see csv_parse.hpp).
//
// Decisions:
// - Files are read whole through zlib's gzopen/gzread, which reads gzipped and
//   plain files alike (a .csv.gz needs no separate step).
// - Parsing is deliberately small: one record per line, fields split on the
//   delimiter, double-quoted fields with "" escapes, CRLF and blank lines
//   tolerated. Numbers go through std::from_chars (locale independent).

#include "io/csv_parse.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string_view>

#include "core/error.hpp"

namespace lockstep::io::csv {

namespace {

struct GzClose {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

}  // namespace

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

namespace {

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

}  // namespace

namespace {

// The whole of `s` as a number (an optional leading '+', as from_chars lacks it).
template <class T>
bool parse_number(const std::string& s, T& value) {
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (first != last && *first == '+') ++first;
  if (first == last) return false;
  const auto [ptr, ec] = std::from_chars(first, last, value);
  return ec == std::errc() && ptr == last;
}

}  // namespace

bool parse_double(const std::string& s, double& value) {
  return parse_number(s, value);
}

bool parse_int(const std::string& s, int64_t& value) {
  return parse_number(s, value);
}

Rows parse(const std::string& path, const ParseOptions& options) {
  const std::string file_where = "CSV file '" + path + "'";
  const std::vector<uint8_t> bytes = read_whole_file(path, file_where);
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  Rows rows;
  bool have_columns = false;
  std::string line;
  int64_t line_no = 0;
  const size_t min_columns = options.with_label ? 2 : 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::string where = "CSV file " + path + ":" + std::to_string(line_no);
    auto fields = split_fields(line, options.delimiter, where);
    bool header_row = false;
    if (!have_columns) {
      LOCKSTEP_CHECK(fields.size() >= min_columns,
                     where << ": found " << fields.size() << " column(s); expected at least "
                           << min_columns
                           << (options.with_label ? " (features and a label)" : " (features)")
                           << ", separated by '" << options.delimiter << "'");
      have_columns = true;
      header_row = options.header == Header::kYes;
      if (options.header == Header::kAuto) {
        for (const auto& f : fields) {
          double v = 0;
          header_row = header_row || !parse_double(f, v);
        }
      }
      for (size_t i = 0; i < fields.size(); ++i) {
        rows.names.push_back(header_row ? fields[i] : "column " + std::to_string(i));
      }
      rows.label_column =
          options.with_label ? find_label_column(options.label_column,
                                                 header_row ? fields : rows.names, header_row, path)
                             : fields.size();
      rows.features = static_cast<int64_t>(fields.size()) - (options.with_label ? 1 : 0);
      if (header_row) continue;
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
      LOCKSTEP_CHECK(std::isfinite(static_cast<float>(v)),
                     where << ": column '" << rows.names[c] << "': '" << fields[c]
                           << "' is outside the float32 range (|x| < 3.4e38)");
      rows.values.push_back(static_cast<float>(v));
    }
    if (options.with_label) rows.labels.push_back(std::move(fields[rows.label_column]));
    rows.lines.push_back(line_no);
  }
  LOCKSTEP_CHECK(!rows.lines.empty(), file_where << ": no data rows");
  return rows;
}

}  // namespace lockstep::io::csv
