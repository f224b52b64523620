#pragma once
// The training configuration: every key of the INI file (section.key), its
// default and help, parsed once into plain structs that are passed down
// (DESIGN.md "Configuration"). Flags (--optim.lr 0.1) override the file; an
// unknown key or a bad value is an error naming the key.

#include <boost/program_options.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/model.hpp"
#include "core/optimizer.hpp"
#include "core/schedule.hpp"
#include "trainer/data.hpp"
#include "trainer/early_stop.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::launch {

/// One configuration key.
struct KeyInfo {
  const char* key;  // "optim.lr"
  const char* default_value;
  const char* help;
};

/// Every key the trainer understands, in the order the effective config lists them.
const std::vector<KeyInfo>& config_keys();

/// Raw values: key -> text, after defaults, the INI file and the flags.
using ConfigValues = std::map<std::string, std::string>;

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

struct RunConfig {
  std::string layers;
  LossKind loss = LossKind::kCrossEntropy;
  InitScheme init = InitScheme::kHe;
  trainer::DataOptions train_data;
  std::string test_path;      // empty: no test set
  std::string val_path;       // a separate validation file; empty: none
  double val_fraction = 0.0;  // > 0: validation rows split off the training file
  uint64_t val_seed = 0;      // the split's seed (default train.seed)
  int64_t folds = 0;          // >= 2: validate on fold `fold` (cross-validation)
  int64_t fold = 0;
  trainer::EarlyStopOptions early_stop;  // the tracked metric (best.h5) and early stopping
  bool has_validation() const { return !val_path.empty() || val_fraction > 0 || folds > 0; }
  trainer::TrainOptions train;
  int64_t global_batch_size = 0;  // 0: train.batch_size is per rank
  // optimizer
  double lr = 0.01;
  double momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
  std::string optimizer = "sgd";  // sgd | adam | adamw
  AdamOptions adam;               // beta1, beta2, eps (weight decay from weight_decay)
  int64_t scale_lr = 0;           // linear scaling: lr * global batch / scale_lr
  ScheduleOptions schedule;       // base_lr / total_steps are filled in by the caller
  double warmup_epochs = 0.0;
  // dist / log
  int threads = 0;                 // 0: cores / local ranks
  std::string device = "auto";     // auto | cpu | cuda
  std::string precision = "fp32";  // fp32 | tf32 (GPU GEMMs)
  bool allow_shared_gpu = false;   // several ranks on one GPU (tests)
  double timeout_s = 600;          // collective watchdog; 0: off
  trainer::CheckpointOptions checkpoint;
  std::string resume;     // "", "auto" or a checkpoint path
  std::string init_from;  // weights to start from
  std::string log_dir;
  std::string run_name;
  bool log_overwrite = false;   // an existing run directory is deleted (else refused)
  bool log_tensorboard = true;  // events file beside metrics.jsonl
};

/// Converts and validates every value; errors name the key and the bad value.
RunConfig to_run_config(const ConfigValues& values);

/// Parses a comma-separated list of numbers (normalisation mean / std).
std::vector<double> parse_number_list(const std::string& key, const std::string& text);

}  // namespace lockstep::launch
