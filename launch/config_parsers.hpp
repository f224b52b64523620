#pragma once
// The parsers of configuration values, (key, text) -> value or an error
// naming the key, what was expected and the text; and `key`, which makes one
// entry of the key table from a name, default, help, destination field and
// parser (launch/config_keys.cpp). Internal to the key table.

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "launch/config_keys.hpp"

namespace lockstep::launch::config_parsers {

using trainer::RunConfig;

// ---- parsers: (key, text) -> value, or an error naming the key and the text

template <class F>
auto convert(const std::string& key, const std::string& text, const char* expected, F f) {
  try {
    size_t used = 0;
    auto v = f(text, &used);
    if (used == text.size() && !text.empty()) return v;
  } catch (const std::exception&) {
  }
  throw Error(key + ": expected " + expected + ", got '" + text + "'");
}

inline double to_double(const std::string& key, const std::string& text) {
  return convert(key, text, "a number",
                 [](const std::string& s, size_t* u) { return std::stod(s, u); });
}

// An integer >= min.
inline auto integer(int64_t min) {
  return [min](const std::string& key, const std::string& text) {
    const int64_t v = convert(key, text, "an integer",
                              [](const std::string& s, size_t* u) { return std::stoll(s, u); });
    if (v < min)
      throw Error(key + ": expected an integer >= " + std::to_string(min) + ", got '" + text +
                  "'");
    return v;
  };
}

// A number; with `ok`, one it accepts ("expected a number <expected>").
inline auto number(const char* expected = nullptr, bool (*ok)(double) = nullptr) {
  return [expected, ok](const std::string& key, const std::string& text) {
    const double v = to_double(key, text);
    if (ok && !ok(v)) throw Error(key + ": expected a number " + expected + ", got '" + text + "'");
    return v;
  };
}
inline bool positive(double v) { return v > 0; }
inline bool non_negative(double v) { return v >= 0; }

// Megabytes as a byte count.
inline auto megabytes(const char* expected, bool (*ok)(double)) {
  return [n = number(expected, ok)](const std::string& key, const std::string& text) {
    return static_cast<size_t>(n(key, text) * 1024 * 1024);
  };
}

inline bool to_bool(const std::string& key, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  throw Error(key + ": expected true or false, got '" + text + "'");
}

inline std::string as_text(const std::string&, const std::string& text) { return text; }

// One of `names` ("expected a, b or c").
inline auto choice(std::vector<std::string> names) {
  return [names](const std::string& key, const std::string& text) {
    if (std::find(names.begin(), names.end(), text) != names.end()) return text;
    std::string list;
    for (size_t i = 0; i < names.size(); ++i)
      list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    throw Error(key + ": expected " + list + ", got '" + text + "'");
  };
}

// Text that `check` accepts (it throws its own error); stored as written.
inline auto checked_text(void (*check)(const std::string&)) {
  return [check](const std::string&, const std::string& text) {
    check(text);
    return text;
  };
}

// ---- the entry: the parser's value is converted to the field's type

template <class T, class Parse>
ConfigKey key(const char* name, const char* def, const char* help, T& (*field)(RunConfig&),
              Parse parse) {
  const std::string n = name;
  const std::string d = def;
  ConfigKey k{n, d, help, {}, {}};
  k.apply = [n, field, parse](const std::string& text, RunConfig& c) {
    field(c) = static_cast<T>(parse(n, text));
  };
  k.default_matches_field = [n, d, field, parse] {
    RunConfig fresh;
    return static_cast<T>(parse(n, d)) == field(fresh);
  };
  return k;
}

}  // namespace lockstep::launch::config_parsers
