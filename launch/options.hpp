#pragma once
// The command line and INI file of the commands that train (train, sweep, cv):
// the keys (launch/config_keys.hpp) from defaults, the INI file and the flags
// (--optim.lr 0.1 overrides the file), as text; an unknown key is an error
// naming it. to_run_config converts them once into trainer::RunConfig
// (DESIGN.md "Configuration").

#include <boost/program_options.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "launch/config_keys.hpp"

namespace lockstep::launch {

using trainer::RunConfig;

/// Parses `train` arguments (after the subcommand). Returns false when --help was
/// printed. Throws lockstep::Error for an unknown key, a missing file, bad syntax,
/// no --config (and no --model.layers), a stray word, or train.batch_size and
/// train.global_batch_size both set in the file or both on the command line.
/// A flag of one of those two overriding the other from the file resets the
/// other to its "off" value and adds a line saying so to `notes`.
bool parse_train_args(int argc, char** argv, ConfigValues& values,
                      std::vector<std::string>* notes = nullptr);

/// The same for any command that takes a configuration (train, sweep, cv):
/// `usage` heads --help, `extra` are the command's own options, whose values
/// land in `cli`. Errors name `command`.
bool parse_config_args(int argc, char** argv, const std::string& command, const std::string& usage,
                       const boost::program_options::options_description& extra,
                       boost::program_options::variables_map& cli, ConfigValues& values,
                       std::vector<std::string>* notes = nullptr);

/// `key` (train.batch_size or train.global_batch_size) was set by `source`
/// ("--" for a flag, "--grid " for a sweep; it heads the line): resets the other of the two to its
/// "off" value (0 for the global batch, the default for the per-rank one) when it was set, and
/// returns a line saying so. Any other key: nothing.
std::optional<std::string> override_batch_key(ConfigValues& values, const std::string& key,
                                              const std::string& source);

/// Parses INI text (e.g. a saved model's config) into values over the defaults.
ConfigValues parse_config_text(const std::string& ini);

/// The effective config as INI text (sections in a fixed order).
std::string to_ini(const ConfigValues& values);

}  // namespace lockstep::launch
