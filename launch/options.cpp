#include "launch/options.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace lockstep::launch {

namespace {

po::options_description describe_keys() {
  po::options_description desc(
      "Configuration keys (INI [section] key = value, or --section.key value)");
  for (const ConfigKey& k : config_keys()) {
    std::string help = k.help;
    if (!k.default_text.empty()) help += " [" + k.default_text + "]";
    desc.add_options()(k.name.c_str(), po::value<std::string>(), help.c_str());
  }
  return desc;
}

constexpr const char* kStrayArgument = "stray-argument";
constexpr const char* kBatchKey = "train.batch_size";
constexpr const char* kGlobalBatchKey = "train.global_batch_size";

// A source (the file, or the flags) sets the global batch: a value other than 0.
bool sets_global_batch(const po::variables_map& vm) {
  return vm.count(kGlobalBatchKey) && vm[kGlobalBatchKey].as<std::string>() != "0";
}

// train.batch_size (per rank) and train.global_batch_size: at most one from each
// source; a flag overrides the other key from the file, and says so.
void resolve_batch_keys(ConfigValues& values, const po::variables_map& file,
                        const std::string& path, const po::variables_map& cli,
                        std::vector<std::string>* notes) {
  const auto both = [&](const po::variables_map& vm, const std::string& where) {
    if (vm.count(kBatchKey) && sets_global_batch(vm))
      throw Error("train.batch_size and train.global_batch_size: expected at most one of them " +
                  where + ", got both (train.batch_size = " + vm[kBatchKey].as<std::string>() +
                  " per rank, train.global_batch_size = " + vm[kGlobalBatchKey].as<std::string>() +
                  " divided among the ranks); keep the one you mean");
  };
  both(file, "in config file '" + path + "'");
  both(cli, "on the command line");
  for (const char* key : {kBatchKey, kGlobalBatchKey}) {
    const char* other = key == kBatchKey ? kGlobalBatchKey : kBatchKey;
    if (!cli.count(key) || !file.count(other)) continue;
    if (key == kGlobalBatchKey && !sets_global_batch(cli)) continue;  // 0: off, nothing to override
    if (const auto note = override_batch_key(values, key, "--"); note && notes)
      notes->push_back(*note);
  }
}

void take(const po::variables_map& vm, ConfigValues& values) {
  for (const auto& [key, value] : vm)
    if (values.count(key)) values[key] = value.as<std::string>();
}

}  // namespace

bool parse_train_args(int argc, char** argv, ConfigValues& values,
                      std::vector<std::string>* notes) {
  po::variables_map cli;
  return parse_config_args(argc, argv, "train",
                           "lockstep train: data-parallel training (run under mpirun or srun)\n\n"
                           "Usage: lockstep train --config run.ini [--section.key value ...]",
                           po::options_description(), cli, values, notes);
}

bool parse_config_args(int argc, char** argv, const std::string& command, const std::string& usage,
                       const po::options_description& extra, po::variables_map& cli,
                       ConfigValues& values, std::vector<std::string>* notes) {
  po::options_description general(usage + "\n\nOptions");
  general.add_options()("help,h", "show this help")(
      "config,c", po::value<std::string>(),
      "INI file with [model] [data] [train] [optim] [dist] [log]");
  general.add(extra);
  po::options_description keys = describe_keys();
  po::options_description hidden;  // a word that is no option's value: reported below
  hidden.add_options()(kStrayArgument, po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add(kStrayArgument, -1);
  po::options_description all;
  all.add(general).add(keys).add(hidden);
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), cli);
    po::notify(cli);
  } catch (const po::error& e) {
    throw Error(command + ": " + e.what() + " (see lockstep " + command + " --help)");
  }
  if (cli.count("help")) {
    std::cout << general << "\n" << keys << std::endl;
    return false;
  }
  if (cli.count(kStrayArgument)) {
    const std::string word = cli[kStrayArgument].as<std::vector<std::string>>().front();
    const bool ini = word.size() > 4 && word.substr(word.size() - 4) == ".ini";
    throw Error(
        "unexpected argument '" + word + "': " +
        (ini ? "did you mean --config " + word + "?"
             : std::string("options are --name value (see lockstep ") + command + " --help)"));
  }
  if (!cli.count("config") && !cli.count("model.layers") && !cli.count("checkpoint.init"))
    throw Error(
        "no --config given: expected --config run.ini (an INI file with [model] layers and "
        "[data] train), or the keys as flags (--model.layers ... --data.train ...)");
  values = default_values();
  po::variables_map file;
  std::string path;
  if (cli.count("config")) {
    path = cli["config"].as<std::string>();
    if (!std::filesystem::exists(path)) throw Error("config file '" + path + "': no such file");
    try {
      po::store(po::parse_config_file<char>(path.c_str(), keys, /*allow_unregistered=*/false),
                file);
    } catch (const po::error& e) {
      throw Error("config file '" + path + "': " + e.what());
    }
    take(file, values);
  }
  take(cli, values);  // flags override the file
  resolve_batch_keys(values, file, path, cli, notes);
  return true;
}

std::optional<std::string> override_batch_key(ConfigValues& values, const std::string& key,
                                              const std::string& source) {
  const bool per_rank = key == kBatchKey;
  if (!per_rank && key != kGlobalBatchKey) return std::nullopt;
  const std::string other = per_rank ? kGlobalBatchKey : kBatchKey;
  const std::string off = per_rank ? "0" : find_key(kBatchKey)->default_text;
  if (values.at(other) == off) return std::nullopt;
  const std::string note = source + key + " overrides " + other + " = " + values.at(other) +
                           " of the config (" + other + " is set to " + off + ")";
  values[other] = off;
  return note;
}

ConfigValues parse_config_text(const std::string& ini) {
  ConfigValues values = default_values();
  std::istringstream in(ini);
  po::variables_map vm;
  po::store(po::parse_config_file(in, describe_keys(), /*allow_unregistered=*/true), vm);
  take(vm, values);
  return values;
}

std::string to_ini(const ConfigValues& values) {
  std::ostringstream os;
  std::string section;
  for (const ConfigKey& k : config_keys()) {
    const std::string& key = k.name;
    const auto dot = key.find('.');
    const std::string sec = key.substr(0, dot);
    if (sec != section) {
      os << (section.empty() ? "" : "\n") << "[" << sec << "]\n";
      section = sec;
    }
    // Never both batch keys (an error when read back): the per-rank one is
    // not used when the global batch is set.
    const bool unused = key == kBatchKey && values.at(kGlobalBatchKey) != "0";
    os << (unused ? "# " : "") << key.substr(dot + 1) << " = " << values.at(key)
       << (unused ? "  (not used: global_batch_size is set)" : "") << "\n";
  }
  return os.str();
}

}  // namespace lockstep::launch
