#pragma once
// The configuration keys (INI `[section] key = value`, or `--section.key value`):
// one entry per key holding its name, default, help, type, check and the
// RunConfig field it fills (config_keys.cpp). Values travel as text (the INI
// file, flags, sweep trials, a saved model's config) and are converted once,
// by to_run_config.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "trainer/run_config.hpp"

namespace lockstep::launch {

/// Raw values: key -> text, after defaults, the INI file and the flags.
using ConfigValues = std::map<std::string, std::string>;

struct ConfigKey {
  std::string name;          // "optim.lr"
  std::string default_text;  // as the effective config and the README write it
  std::string help;
  /// Converts `text`, checks it and stores it in the key's field; throws
  /// lockstep::Error naming the key, what was expected and the text.
  std::function<void(const std::string& text, trainer::RunConfig&)> apply;
  /// Whether the default text converts to the field's default in RunConfig.
  std::function<bool()> default_matches_field;
};

/// Every key, in the order the effective config lists them.
const std::vector<ConfigKey>& config_keys();

/// The key named `name`, or nullptr.
const ConfigKey* find_key(const std::string& name);

/// Every key at its default.
ConfigValues default_values();

/// Converts and checks every value (each key's entry), then the rules between
/// keys; errors name the key(s) and the bad value.
trainer::RunConfig to_run_config(const ConfigValues& values);

/// Parses a comma-separated list of numbers (normalisation mean / std).
std::vector<double> parse_number_list(const std::string& key, const std::string& text);

}  // namespace lockstep::launch
