#include "launch/options.hpp"

#include <boost/program_options.hpp>

#include "comm/placement.hpp"
#include "core/device.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace lockstep::launch {

const std::vector<KeyInfo>& config_keys() {
  static const std::vector<KeyInfo> keys = {
      {"model.layers", "", "the layers, e.g. \"dense(256), relu, dropout(0.2), dense(10)\""},
      {"model.loss", "cross_entropy", "cross_entropy (class ids) or mse (float targets)"},
      {"model.init", "he", "weight initialisation: he or xavier"},
      {"data.train", "", "training dataset (HDF5)"},
      {"data.test", "", "test dataset (HDF5), evaluated after every epoch; empty: none"},
      {"data.limit", "0", "use only the first N training samples; 0: all"},
      {"data.val", "", "validation dataset (HDF5), evaluated after every epoch; empty: none"},
      {"data.val_fraction", "0",
       "0 <= f < 1: validation rows split off the training file (seeded, after data.limit); "
       "0: none"},
      {"data.val_seed", "", "seed of the validation split or folds; empty: train.seed"},
      {"data.folds", "0",
       "k >= 2: validate on fold data.fold of a seeded k-fold partition of the training "
       "rows (after data.limit) and train on the others (set by lockstep cv); 0: off"},
      {"data.fold", "0", "the validation fold, 0 <= fold < data.folds"},
      {"data.memory_mb", "0",
       "memory bound for a rank's training shard in MB: a larger shard is "
       "streamed from the file; 0: hold the shard in memory"},
      {"data.prefetch", "2", "training batches prepared ahead by the input thread"},
      {"data.crop_padding", "0", "augmentation: random crop after padding images by N pixels"},
      {"data.hflip", "false", "augmentation: random horizontal flip of images"},
      {"data.features", "/features", "name of the features dataset in the files"},
      {"data.labels", "/labels", "name of the labels dataset in the files"},
      {"data.scale", "auto", "input scale: auto (1/255 for uint8, 1 for float32) or a number"},
      {"data.mean", "0", "mean subtracted after scaling: one value or one per channel"},
      {"data.std", "1", "std divided by after the mean: one value or one per channel"},
      {"train.epochs", "10", "number of epochs"},
      {"train.batch_size", "128",
       "batch size per rank (not with global_batch_size; a flag overrides the file's "
       "global_batch_size)"},
      {"train.global_batch_size", "0",
       "global batch (divided evenly across ranks), not with batch_size; 0: off"},
      {"train.eval_batch_size", "1000",
       "rows per evaluation batch; each rank evaluates whole batches of the row order, so the "
       "figures are the same on any number of ranks"},
      {"train.seed", "0", "seed for initialisation, shuffling and dropout"},
      {"train.shuffle", "true", "shuffle each rank's shard every epoch"},
      {"train.early_stop_metric", "none",
       "early stopping on this validation figure (val_loss, val_accuracy, val_mse, val_mae, "
       "val_r2); none: off"},
      {"train.early_stop_mode", "auto", "min or max; auto: max for accuracy and r2, min otherwise"},
      {"train.patience", "0",
       "early stopping: epochs in a row without improvement before stopping (0: at the first)"},
      {"train.min_delta", "0", "early stopping: an improvement must exceed this"},
      {"optim.name", "sgd", "optimizer: sgd, adam or adamw"},
      {"optim.lr", "0.01", "learning rate (for the global batch, see README)"},
      {"optim.scale_lr", "0",
       "linear scaling rule: > 0 is the batch optim.lr is meant for; the "
       "rate used is lr * global batch / scale_lr; 0: off"},
      {"optim.momentum", "0.9", "sgd: momentum"},
      {"optim.nesterov", "false", "sgd: Nesterov momentum"},
      {"optim.beta1", "0.9", "adam/adamw: first-moment decay"},
      {"optim.beta2", "0.999", "adam/adamw: second-moment decay"},
      {"optim.eps", "1e-8", "adam/adamw: epsilon"},
      {"optim.weight_decay", "0", "weight decay: L2 (sgd, adam) or decoupled (adamw)"},
      {"optim.clip_norm", "0", "clip gradients to this global L2 norm; 0: off"},
      {"optim.schedule", "constant",
       "learning-rate schedule: constant, cosine, step or exponential"},
      {"optim.warmup_epochs", "0", "linear warm-up length in epochs (may be fractional)"},
      {"optim.min_lr", "0", "cosine: final learning rate"},
      {"optim.step_epochs", "10", "step / exponential: epochs per decay by gamma"},
      {"optim.gamma", "0.1", "step / exponential: decay factor"},
      {"dist.device", "auto", "auto (a GPU per rank when every rank sees one), cpu or cuda"},
      {"dist.precision", "fp32", "GPU matrix multiplies: fp32 or tf32 (tensor cores)"},
      {"dist.allow_shared_gpu", "false", "allow more ranks than GPUs on a host (testing)"},
      {"dist.threads", "0",
       "CPU threads per rank; 0: OPENBLAS_NUM_THREADS if set, else the cores the rank is "
       "bound to, or, unbound, cores on the host / ranks on the host"},
      {"dist.bucket_mb", "25", "gradient all-reduce bucket size in MB"},
      {"dist.timeout", "600",
       "seconds a collective may wait for the other ranks before the job is ended "
       "(a rank stopped participating); 0: no timeout"},
      {"train.stop_after_steps", "0",
       "stop (with a checkpoint) after this many global steps; 0: off"},
      {"train.on_nan", "abort",
       "a step with a non-finite loss or gradient: abort (exit code 4) or skip it "
       "(parameters and optimizer state unchanged)"},
      {"train.max_nan_skips", "10", "on_nan = skip: this many consecutive skipped steps abort"},
      {"checkpoint.dir", "", "folder for checkpoints; empty: <run directory>/checkpoints"},
      {"checkpoint.every_steps", "0", "write a checkpoint every N global steps; 0: off"},
      {"checkpoint.every_epochs", "1", "write a checkpoint every N epochs; 0: off"},
      {"checkpoint.keep", "3", "newest checkpoints to keep"},
      {"checkpoint.resume", "",
       "continue a run: auto (the latest checkpoint of this run, if any) "
       "or a checkpoint file"},
      {"checkpoint.init", "",
       "start from the weights of a saved model or checkpoint (fine-tuning)"},
      {"log.dir", "runs", "folder for run directories"},
      {"log.name", "", "run directory name; empty: train-<date>-<time>"},
      {"log.overwrite", "false",
       "a run directory of this name exists (and the run is not resumed): false refuses to "
       "start; true deletes it (metrics, events, checkpoints, models) before writing the new "
       "run"},
      {"log.every", "100", "steps between progress lines and step records"},
      {"log.progress", "auto", "rank 0's progress: auto (a bar on a terminal), bar, lines or off"},
      {"log.tensorboard", "true", "also write the metrics as TensorBoard scalars (events file)"},
  };
  return keys;
}

namespace {

po::options_description describe_keys() {
  po::options_description desc(
      "Configuration keys (INI [section] key = value, or --section.key value)");
  for (const KeyInfo& k : config_keys()) {
    std::string help = k.help;
    if (*k.default_value) help += std::string(" [") + k.default_value + "]";
    desc.add_options()(k.key, po::value<std::string>(), help.c_str());
  }
  return desc;
}

ConfigValues defaults() {
  ConfigValues v;
  for (const KeyInfo& k : config_keys()) v[k.key] = k.default_value;
  return v;
}

constexpr const char* kStrayArgument = "stray-argument";
constexpr const char* kBatchKey = "train.batch_size";
constexpr const char* kGlobalBatchKey = "train.global_batch_size";

std::string default_value(const std::string& key) {
  for (const KeyInfo& k : config_keys())
    if (key == k.key) return k.default_value;
  return "";
}

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

double to_double(const std::string& key, const std::string& text) {
  return convert(key, text, "a number",
                 [](const std::string& s, size_t* u) { return std::stod(s, u); });
}

int64_t to_int(const std::string& key, const std::string& text, int64_t min) {
  const int64_t v = convert(key, text, "an integer",
                            [](const std::string& s, size_t* u) { return std::stoll(s, u); });
  if (v < min)
    throw Error(key + ": expected an integer >= " + std::to_string(min) + ", got '" + text + "'");
  return v;
}

bool to_bool(const std::string& key, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  throw Error(key + ": expected true or false, got '" + text + "'");
}

// The validation source, the tracked metric and early stopping.
void parse_validation(const ConfigValues& v, RunConfig& c) {
  c.val_path = v.at("data.val");
  c.val_fraction = to_double("data.val_fraction", v.at("data.val_fraction"));
  if (!(c.val_fraction >= 0 && c.val_fraction < 1))
    throw Error("data.val_fraction: expected a number 0 <= f < 1, got '" +
                v.at("data.val_fraction") + "'");
  if (!c.val_path.empty() && c.val_fraction > 0)
    throw Error(
        "data.val and data.val_fraction: expected at most one of them, got both (data.val "
        "= '" +
        c.val_path + "', data.val_fraction = " + v.at("data.val_fraction") + ")");
  c.folds = to_int("data.folds", v.at("data.folds"), 0);
  c.fold = to_int("data.fold", v.at("data.fold"), 0);
  if (c.folds == 1)
    throw Error("data.folds: expected 0 (off) or at least 2 folds, got '" + v.at("data.folds") +
                "'");
  if (c.folds > 0 && c.fold >= c.folds)
    throw Error("data.fold: expected a fold in [0, " + v.at("data.folds") + "), got '" +
                v.at("data.fold") + "'");
  if (c.folds > 0 && (!c.val_path.empty() || c.val_fraction > 0))
    throw Error("data.folds = " + v.at("data.folds") +
                ": expected neither data.val nor data.val_fraction (cross-validation picks the "
                "validation rows), got data.val = '" +
                c.val_path + "', data.val_fraction = " + v.at("data.val_fraction"));
  const std::string seed = v.at("data.val_seed");
  c.val_seed =
      seed.empty() ? c.train.seed : static_cast<uint64_t>(to_int("data.val_seed", seed, 0));

  const std::string metric = v.at("train.early_stop_metric");
  trainer::EarlyStopOptions& e = c.early_stop;
  e.stop = !metric.empty() && metric != "none";
  if (e.stop) {
    const auto names = trainer::validation_metric_names(c.loss);
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    if (std::find(names.begin(), names.end(), metric) == names.end())
      throw Error("train.early_stop_metric: expected none or one of " + list +
                  " (model.loss = " + v.at("model.loss") + "), got '" + metric + "'");
    if (!c.has_validation())
      throw Error("train.early_stop_metric = " + metric +
                  ": expected validation data (data.val_fraction > 0, data.val or data.folds), "
                  "got none");
    e.metric = metric;
  }
  const std::string mode = v.at("train.early_stop_mode");
  if (mode != "auto" && mode != "min" && mode != "max")
    throw Error("train.early_stop_mode: expected auto, min or max, got '" + mode + "'");
  e.maximize = mode == "auto" ? trainer::metric_maximized(e.metric) : mode == "max";
  e.patience = to_int("train.patience", v.at("train.patience"), 0);
  e.min_delta = to_double("train.min_delta", v.at("train.min_delta"));
  if (!(e.min_delta >= 0))
    throw Error("train.min_delta: expected a number >= 0, got '" + v.at("train.min_delta") + "'");
}

}  // namespace

std::vector<double> parse_number_list(const std::string& key, const std::string& text) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    out.push_back(to_double(key, b == std::string::npos ? "" : item.substr(b, e - b + 1)));
  }
  if (out.empty()) throw Error(key + ": expected one or more numbers, got '" + text + "'");
  return out;
}

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
  if (!cli.count("config") && !cli.count("model.layers"))
    throw Error(
        "no --config given: expected --config run.ini (an INI file with [model] layers and "
        "[data] train), or the keys as flags (--model.layers ... --data.train ...)");
  values = defaults();
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
  const std::string off = per_rank ? "0" : default_value(kBatchKey);
  if (values.at(other) == off) return std::nullopt;
  const std::string note = source + key + " overrides " + other + " = " + values.at(other) +
                           " of the config (" + other + " is set to " + off + ")";
  values[other] = off;
  return note;
}

ConfigValues parse_config_text(const std::string& ini) {
  ConfigValues values = defaults();
  std::istringstream in(ini);
  po::variables_map vm;
  po::store(po::parse_config_file(in, describe_keys(), /*allow_unregistered=*/true), vm);
  take(vm, values);
  return values;
}

std::string to_ini(const ConfigValues& values) {
  std::ostringstream os;
  std::string section;
  for (const KeyInfo& k : config_keys()) {
    const std::string key = k.key;
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

RunConfig to_run_config(const ConfigValues& v) {
  RunConfig c;
  c.layers = v.at("model.layers");
  if (c.layers.empty())
    throw Error(
        "model.layers: expected a layer list such as \"dense(128), relu, dense(10)\", got nothing");
  c.loss = parse_loss(v.at("model.loss"));
  const std::string init = v.at("model.init");
  if (init == "he") {
    c.init = InitScheme::kHe;
  } else if (init == "xavier") {
    c.init = InitScheme::kXavier;
  } else {
    throw Error("model.init: expected he or xavier, got '" + init + "'");
  }
  c.train_data.spec.path = v.at("data.train");
  if (c.train_data.spec.path.empty())
    throw Error("data.train: expected the path of a training dataset, got nothing");
  c.train_data.spec.features = v.at("data.features");
  c.train_data.spec.labels = v.at("data.labels");
  c.test_path = v.at("data.test");
  c.train_data.limit = to_int("data.limit", v.at("data.limit"), 0);
  c.train.input.memory_bytes =
      static_cast<size_t>(to_double("data.memory_mb", v.at("data.memory_mb")) * 1024 * 1024);
  c.train.input.prefetch = static_cast<int>(to_int("data.prefetch", v.at("data.prefetch"), 1));
  c.train.input.augment.crop_padding = to_int("data.crop_padding", v.at("data.crop_padding"), 0);
  c.train.input.augment.hflip = to_bool("data.hflip", v.at("data.hflip"));
  const std::string scale = v.at("data.scale");
  c.train_data.norm.scale = scale == "auto" ? -1.0 : to_double("data.scale", scale);
  if (scale != "auto" && c.train_data.norm.scale <= 0)
    throw Error("data.scale: expected auto or a number > 0, got '" + scale + "'");
  c.train_data.norm.mean = parse_number_list("data.mean", v.at("data.mean"));
  c.train_data.norm.std = parse_number_list("data.std", v.at("data.std"));
  for (double s : c.train_data.norm.std)
    if (s <= 0) throw Error("data.std: expected values > 0, got '" + v.at("data.std") + "'");

  c.train.epochs = to_int("train.epochs", v.at("train.epochs"), 0);
  c.train.batch_size = to_int("train.batch_size", v.at("train.batch_size"), 1);
  c.global_batch_size = to_int("train.global_batch_size", v.at("train.global_batch_size"), 0);
  c.train.eval_batch_size = to_int("train.eval_batch_size", v.at("train.eval_batch_size"), 1);
  c.train.seed = static_cast<uint64_t>(to_int("train.seed", v.at("train.seed"), 0));
  c.train.shuffle = to_bool("train.shuffle", v.at("train.shuffle"));

  c.optimizer = v.at("optim.name");
  if (c.optimizer != "sgd" && c.optimizer != "adam" && c.optimizer != "adamw")
    throw Error("optim.name: expected sgd, adam or adamw, got '" + c.optimizer + "'");
  c.scale_lr = to_int("optim.scale_lr", v.at("optim.scale_lr"), 0);
  c.adam.beta1 = to_double("optim.beta1", v.at("optim.beta1"));
  c.adam.beta2 = to_double("optim.beta2", v.at("optim.beta2"));
  c.adam.eps = to_double("optim.eps", v.at("optim.eps"));
  if (c.adam.beta1 < 0 || c.adam.beta1 >= 1 || c.adam.beta2 < 0 || c.adam.beta2 >= 1)
    throw Error("optim.beta1/beta2: expected values in [0, 1), got " + v.at("optim.beta1") +
                " and " + v.at("optim.beta2"));
  if (!(c.adam.eps > 0)) throw Error("optim.eps: expected > 0, got '" + v.at("optim.eps") + "'");
  c.train.clip_norm = to_double("optim.clip_norm", v.at("optim.clip_norm"));
  if (c.train.clip_norm < 0)
    throw Error("optim.clip_norm: expected >= 0, got '" + v.at("optim.clip_norm") + "'");
  c.lr = to_double("optim.lr", v.at("optim.lr"));
  if (!(c.lr > 0)) throw Error("optim.lr: expected a number > 0, got '" + v.at("optim.lr") + "'");
  c.momentum = to_double("optim.momentum", v.at("optim.momentum"));
  if (c.momentum < 0 || c.momentum >= 1)
    throw Error("optim.momentum: expected a value in [0, 1), got '" + v.at("optim.momentum") + "'");
  c.nesterov = to_bool("optim.nesterov", v.at("optim.nesterov"));
  c.weight_decay = to_double("optim.weight_decay", v.at("optim.weight_decay"));
  if (c.weight_decay < 0)
    throw Error("optim.weight_decay: expected >= 0, got '" + v.at("optim.weight_decay") + "'");
  c.schedule.kind = parse_schedule(v.at("optim.schedule"));
  c.warmup_epochs = to_double("optim.warmup_epochs", v.at("optim.warmup_epochs"));
  if (c.warmup_epochs < 0)
    throw Error("optim.warmup_epochs: expected >= 0, got '" + v.at("optim.warmup_epochs") + "'");
  c.schedule.min_lr = to_double("optim.min_lr", v.at("optim.min_lr"));
  if (c.schedule.min_lr < 0 || c.schedule.min_lr > c.lr)
    throw Error("optim.min_lr: expected a value in [0, optim.lr], got '" + v.at("optim.min_lr") +
                "'");
  c.schedule.step_every =
      to_int("optim.step_epochs", v.at("optim.step_epochs"), 1);  // epochs for now
  c.schedule.gamma = to_double("optim.gamma", v.at("optim.gamma"));
  if (!(c.schedule.gamma > 0))
    throw Error("optim.gamma: expected a number > 0, got '" + v.at("optim.gamma") + "'");

  c.threads = static_cast<int>(to_int("dist.threads", v.at("dist.threads"), 0));
  c.device = v.at("dist.device");
  comm::parse_device_request(c.device);  // validates
  c.precision = v.at("dist.precision");
  device::parse_precision(c.precision);  // validates
  c.allow_shared_gpu = to_bool("dist.allow_shared_gpu", v.at("dist.allow_shared_gpu"));
  const double bucket_mb = to_double("dist.bucket_mb", v.at("dist.bucket_mb"));
  if (!(bucket_mb > 0))
    throw Error("dist.bucket_mb: expected a number > 0, got '" + v.at("dist.bucket_mb") + "'");
  c.train.bucket_bytes = static_cast<size_t>(bucket_mb * 1024 * 1024);
  c.timeout_s = to_double("dist.timeout", v.at("dist.timeout"));
  if (!(c.timeout_s >= 0))
    throw Error("dist.timeout: expected a number of seconds >= 0, got '" + v.at("dist.timeout") +
                "'");
  c.train.stop_after_steps = to_int("train.stop_after_steps", v.at("train.stop_after_steps"), 0);
  const std::string& on_nan = v.at("train.on_nan");
  if (on_nan != "abort" && on_nan != "skip")
    throw Error("train.on_nan: expected abort or skip, got '" + on_nan + "'");
  c.train.on_nan = on_nan == "skip" ? trainer::NanPolicy::kSkip : trainer::NanPolicy::kAbort;
  c.train.max_nan_skips = to_int("train.max_nan_skips", v.at("train.max_nan_skips"), 1);
  c.checkpoint.dir = v.at("checkpoint.dir");
  c.checkpoint.every_steps = to_int("checkpoint.every_steps", v.at("checkpoint.every_steps"), 0);
  c.checkpoint.every_epochs = to_int("checkpoint.every_epochs", v.at("checkpoint.every_epochs"), 0);
  c.checkpoint.keep = static_cast<int>(to_int("checkpoint.keep", v.at("checkpoint.keep"), 1));
  c.resume = v.at("checkpoint.resume");
  c.init_from = v.at("checkpoint.init");
  if (!c.resume.empty() && !c.init_from.empty())
    throw Error("checkpoint.resume and checkpoint.init: expected at most one of them, got both");
  c.log_dir = v.at("log.dir");
  c.run_name = v.at("log.name");
  // The run directory is log.dir/log.name, which log.overwrite deletes: one
  // plain name, never a path that leads elsewhere.
  if (!c.run_name.empty() &&
      (c.run_name == "." || c.run_name == ".." || c.run_name.find('/') != std::string::npos))
    throw Error("log.name: expected a plain directory name (no '/', not '.' or '..'), got '" +
                c.run_name + "'");
  if (c.resume == "auto" && c.run_name.empty() && c.checkpoint.dir.empty())
    throw Error(
        "checkpoint.resume = auto: expected log.name (or checkpoint.dir) to be set, so that "
        "the run's checkpoints can be found again, got neither");
  c.log_overwrite = to_bool("log.overwrite", v.at("log.overwrite"));
  if (c.log_overwrite && !c.resume.empty())
    throw Error("checkpoint.resume = " + c.resume +
                " and log.overwrite = true: expected at most one of them (overwrite deletes the "
                "run that resume continues), got both");
  if (c.log_overwrite && !c.checkpoint.dir.empty())
    throw Error("checkpoint.dir = " + c.checkpoint.dir +
                " and log.overwrite = true: expected at most one of them (overwrite deletes the "
                "run directory with its checkpoints; a checkpoint.dir elsewhere would keep the "
                "previous run's checkpoints for resume auto), got both");
  c.train.log_every = to_int("log.every", v.at("log.every"), 1);
  c.train.progress = v.at("log.progress");
  trainer::Progress::parse(c.train.progress);  // validates
  // Under mpirun or srun rank 0's output reaches the terminal through the
  // launcher, which a progress bar's carriage returns do not survive.
  if (c.train.progress == "auto" &&
      (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("SLURM_STEP_ID") != nullptr))
    c.train.progress = "lines";
  c.log_tensorboard = to_bool("log.tensorboard", v.at("log.tensorboard"));
  parse_validation(v, c);
  return c;
}

}  // namespace lockstep::launch
