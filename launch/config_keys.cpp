// One entry per configuration key: name, default, help, type (its parser),
// check and destination field. The rules between keys, and those the core
// types own (optimizer options), are applied once after every key.

#include "launch/config_keys.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <sstream>

#include "comm/placement.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/ops/conv.hpp"
#include "launch/config_parsers.hpp"

namespace lockstep::launch {

using trainer::RunConfig;
using namespace config_parsers;

namespace {

#define FIELD(member) (+[](RunConfig & c) -> auto& { return c.member; })

std::vector<ConfigKey> make_keys() {
  return {
      key("model.layers", "",
          "the layers, e.g. \"dense(256), relu, dropout(0.2), dense(10)\"; empty with "
          "checkpoint.init: that model's layers",
          FIELD(layers), as_text),
      key("model.loss", "cross_entropy", "cross_entropy (class ids) or mse (float targets)",
          FIELD(loss),
          [](const std::string& k, const std::string& t) {
            return parse_loss(choice({"cross_entropy", "mse"})(k, t));
          }),
      key("model.ignore_index", "none",
          "per-pixel cross-entropy: pixels with this label count for nothing in the loss and "
          "the metrics (e.g. 255); none: every pixel counts",
          FIELD(loss_options.ignore_index),
          [](const std::string& k, const std::string& t) -> std::optional<int64_t> {
            if (t == "none") return std::nullopt;
            const int64_t v =
                convert(k, t, "an integer class id or none",
                        [](const std::string& s, size_t* u) { return std::stoll(s, u); });
            if (v < INT32_MIN || v > INT32_MAX)
              throw Error(k + ": expected an int32 class id or none, got '" + t + "'");
            return v;
          }),
      key("model.class_weights", "",
          "per-pixel cross-entropy: class weights w0,w1,... (one per class, >= 0); the loss is "
          "the weighted mean over counted pixels; empty: all 1",
          FIELD(loss_options.class_weights),
          [](const std::string& k, const std::string& t) {
            std::vector<double> w;
            if (t.empty()) return w;
            std::string item;
            std::istringstream in(t);
            while (std::getline(in, item, ',')) {
              item.erase(0, item.find_first_not_of(" \t"));
              item.erase(item.find_last_not_of(" \t") + 1);
              w.push_back(number("(comma-separated, >= 0)", non_negative)(k, item));
            }
            return w;
          }),
      key("model.init", "he", "weight initialisation: he or xavier", FIELD(init),
          [](const std::string& k, const std::string& t) {
            return choice({"he", "xavier"})(k, t) == "he" ? InitScheme::kHe : InitScheme::kXavier;
          }),
      key("data.train", "", "training dataset (HDF5)", FIELD(train_data.spec.path), as_text),
      key("data.test", "", "test dataset (HDF5), evaluated after every epoch; empty: none",
          FIELD(test_path), as_text),
      key("data.limit", "0", "use only the first N training samples; 0: all",
          FIELD(train_data.limit), integer(0)),
      key("data.val", "", "validation dataset (HDF5), evaluated after every epoch; empty: none",
          FIELD(val_path), as_text),
      key("data.val_fraction", "0",
          "0 <= f < 1: validation rows split off the training file (seeded, after data.limit); "
          "0: none",
          FIELD(val_fraction), number("0 <= f < 1", [](double f) { return f >= 0 && f < 1; })),
      key("data.val_seed", "", "seed of the validation split or folds; empty: train.seed",
          FIELD(val_seed),
          [](const std::string& k, const std::string& t) -> std::optional<uint64_t> {
            if (t.empty()) return std::nullopt;
            return static_cast<uint64_t>(integer(0)(k, t));
          }),
      key("data.folds", "0",
          "k >= 2: validate on fold data.fold of a seeded k-fold partition of the training "
          "rows (after data.limit) and train on the others (set by lockstep cv); 0: off",
          FIELD(folds),
          [](const std::string& k, const std::string& t) {
            const int64_t v = integer(0)(k, t);
            if (v == 1) throw Error(k + ": expected 0 (off) or at least 2 folds, got '" + t + "'");
            return v;
          }),
      key("data.fold", "0", "the validation fold, 0 <= fold < data.folds", FIELD(fold), integer(0)),
      key("data.memory_mb", "0",
          "memory bound for a rank's training shard in MB: a larger shard is "
          "streamed from the file; 0: hold the shard in memory",
          FIELD(train.input.memory_bytes), megabytes(">= 0", non_negative)),
      key("data.prefetch", "2", "training batches prepared ahead by the input thread",
          FIELD(train.input.prefetch), integer(1)),
      key("data.crop_padding", "0", "augmentation: random crop after padding images by N pixels",
          FIELD(train.input.augment.crop_padding), integer(0)),
      key("data.hflip", "false", "augmentation: random horizontal flip of images",
          FIELD(train.input.augment.hflip), to_bool),
      key("data.scale_jitter", "0",
          "augmentation: zoom images (bilinear) and label maps (nearest) about the centre by a "
          "factor in [1 - s, 1 + s]; 0 <= s < 1; 0: off",
          FIELD(train.input.augment.scale_jitter),
          number("0 <= s < 1", [](double v) { return v >= 0 && v < 1; })),
      key("data.brightness", "0",
          "augmentation: add a value in [-b, b] (after normalisation) to each image, not to "
          "labels; 0: off",
          FIELD(train.input.augment.brightness), number(">= 0", non_negative)),
      key("data.contrast", "0",
          "augmentation: scale each image about its mean by a factor in [1 - c, 1 + c]; 0: off",
          FIELD(train.input.augment.contrast), number(">= 0", non_negative)),
      key("data.features", "/features", "name of the features dataset in the files",
          FIELD(train_data.spec.features), as_text),
      key("data.labels", "/labels", "name of the labels dataset in the files",
          FIELD(train_data.spec.labels), as_text),
      key("data.layout", "auto",
          "image layout of the features: auto (the file's layout attribute; samples that look "
          "channels-last without one are an error), nchw, or nhwc (transposed to NCHW on read)",
          FIELD(train_data.spec.layout),
          [](const std::string& k, const std::string& t) { return io::parse_layout(t, k); }),
      key("data.scale", "auto", "input scale: auto (1/255 for uint8, 1 for float32) or a number",
          FIELD(train_data.norm.scale),
          [](const std::string& k, const std::string& t) {
            if (t == "auto") return -1.0;
            const double v = to_double(k, t);
            if (!(v > 0)) throw Error(k + ": expected auto or a number > 0, got '" + t + "'");
            return v;
          }),
      key("data.mean", "0", "mean subtracted after scaling: one value or one per channel",
          FIELD(train_data.norm.mean), parse_number_list),
      key("data.std", "1", "std divided by after the mean: one value or one per channel",
          FIELD(train_data.norm.std),
          [](const std::string& k, const std::string& t) {
            std::vector<double> v = parse_number_list(k, t);
            for (double s : v)
              if (!(s > 0)) throw Error(k + ": expected values > 0, got '" + t + "'");
            return v;
          }),
      key("train.epochs", "10", "number of epochs", FIELD(train.epochs), integer(0)),
      key("train.batch_size", "128",
          "batch size per rank (not with global_batch_size; a flag overrides the file's "
          "global_batch_size)",
          FIELD(train.batch_size), integer(1)),
      key("train.accumulate_steps", "1",
          "micro-batches of train.batch_size rows per optimizer step, their gradients summed "
          "before one all-reduce (a rank's batch is accumulate_steps x batch_size rows)",
          FIELD(train.accumulate_steps), integer(1)),
      key("train.global_batch_size", "0",
          "global batch (divided evenly across ranks), not with batch_size; 0: off",
          FIELD(global_batch_size), integer(0)),
      key("train.eval_batch_size", "1000",
          "rows per evaluation batch; each rank evaluates whole batches of the row order, so the "
          "figures are the same on any number of ranks",
          FIELD(train.eval_batch_size), integer(1)),
      key("train.seed", "0", "seed for initialisation, shuffling and dropout", FIELD(train.seed),
          integer(0)),
      key("train.shuffle", "true", "shuffle each rank's shard every epoch", FIELD(train.shuffle),
          to_bool),
      key("train.early_stop_metric", "none",
          "early stopping on this validation figure (val_loss, val_accuracy, val_mse, val_mae, "
          "val_r2); none: off",
          FIELD(early_stop_metric), as_text),
      key("train.early_stop_mode", "auto",
          "min or max; auto: max for accuracy and r2, min otherwise", FIELD(early_stop_mode),
          choice({"auto", "min", "max"})),
      key("train.patience", "0",
          "early stopping: epochs in a row without improvement before stopping (0: at the first)",
          FIELD(early_stop.patience), integer(0)),
      key("train.min_delta", "0", "early stopping: an improvement must exceed this",
          FIELD(early_stop.min_delta), number(">= 0", non_negative)),
      key("optim.name", "sgd", "optimizer: sgd, adam or adamw", FIELD(optimizer),
          choice({"sgd", "adam", "adamw"})),
      key("optim.lr", "0.01", "learning rate (for the global batch, see README)", FIELD(lr),
          number("> 0", positive)),
      key("optim.scale_lr", "0",
          "linear scaling rule: > 0 is the batch optim.lr is meant for; the "
          "rate used is lr * global batch / scale_lr; 0: off",
          FIELD(scale_lr), integer(0)),
      // The optimizer options' rules are core's (check_options), applied after every key.
      key("optim.momentum", "0.9", "sgd: momentum", FIELD(momentum), number()),
      key("optim.nesterov", "false", "sgd: Nesterov momentum", FIELD(nesterov), to_bool),
      key("optim.beta1", "0.9", "adam/adamw: first-moment decay", FIELD(adam.beta1), number()),
      key("optim.beta2", "0.999", "adam/adamw: second-moment decay", FIELD(adam.beta2), number()),
      key("optim.eps", "1e-8", "adam/adamw: epsilon", FIELD(adam.eps), number()),
      key("optim.weight_decay", "0", "weight decay: L2 (sgd, adam) or decoupled (adamw)",
          FIELD(weight_decay), number()),
      key("optim.clip_norm", "0", "clip gradients to this global L2 norm; 0: off",
          FIELD(train.clip_norm), number(">= 0", non_negative)),
      key("optim.schedule", "constant",
          "learning-rate schedule: constant, cosine, step or exponential", FIELD(schedule),
          [](const std::string&, const std::string& t) { return parse_schedule(t); }),
      key("optim.warmup_epochs", "0", "linear warm-up length in epochs (may be fractional)",
          FIELD(warmup_epochs), number(">= 0", non_negative)),
      key("optim.min_lr", "0", "cosine: final learning rate", FIELD(min_lr),
          number(">= 0", non_negative)),
      key("optim.step_epochs", "10", "step / exponential: epochs per decay by gamma",
          FIELD(step_epochs), integer(1)),
      key("optim.gamma", "0.1", "step / exponential: decay factor", FIELD(gamma),
          number("> 0", positive)),
      key("dist.device", "auto", "auto (a GPU per rank when every rank sees one), cpu or cuda",
          FIELD(device), checked_text([](const std::string& t) { comm::parse_device_request(t); })),
      key("dist.precision", "fp32",
          "fp32; tf32 (GPU tensor-core GEMMs, fp32 on CPUs); bf16 (mixed precision: bf16 "
          "activations and GEMM inputs, fp32 master weights; emulated on CPUs)",
          FIELD(precision), checked_text([](const std::string& t) { device::parse_precision(t); })),
      key("dist.conv_backend", "auto",
          "GPU convolutions: auto (cuDNN where the build has it, else im2col), cudnn or im2col "
          "(im2col + cuBLAS GEMMs: the fallback and reference); no effect on CPU ranks",
          FIELD(conv_backend), checked_text([](const std::string& t) {
            if (t != "auto" && t != "cudnn" && t != "im2col")
              throw Error("dist.conv_backend: expected auto, cudnn or im2col, got '" + t + "'");
            if (t == "cudnn" && !ops::cudnn_built())
              throw Error("dist.conv_backend = cudnn: this build of lockstep has no cuDNN "
                          "(configure with cuDNN found and LOCKSTEP_CUDNN=ON), or use auto");
          })),
      key("dist.allow_shared_gpu", "false", "allow more ranks than GPUs on a host (testing)",
          FIELD(allow_shared_gpu), to_bool),
      key("dist.threads", "0",
          "CPU threads per rank; 0: OPENBLAS_NUM_THREADS if set, else the cores the rank is "
          "bound to, or, unbound, cores on the host / ranks on the host",
          FIELD(threads), integer(0)),
      key("dist.bucket_mb", "25", "gradient all-reduce bucket size in MB",
          FIELD(train.bucket_bytes), megabytes("> 0", positive)),
      key("dist.grad_dtype", "fp32",
          "how gradients travel in the all-reduce: fp32, bf16 (half the bytes, float32's "
          "range) or fp16 (half the bytes, scaled by a power of two the ranks agree on); "
          "parameters and optimizer state stay float32",
          FIELD(train.grad_dtype),
          [](const std::string&, const std::string& t) { return comm::parse_wire_type(t); }),
      key("dist.shard_optimizer", "false",
          "ZeRO-1: each rank keeps the optimizer state of 1/ranks of the parameters; gradients "
          "are reduce-scattered, each rank updates its slice, parameters are all-gathered "
          "(checkpoints hold the whole state and resume on any number of ranks)",
          FIELD(train.shard_optimizer), to_bool),
      key("dist.overlap", "true",
          "move the gradient all-reduce buckets along while backward runs (MPI: test them "
          "between layers); false: they progress only once backward has ended (a baseline for "
          "measuring overlap)",
          FIELD(train.overlap), to_bool),
      key("dist.cuda_graph", "false",
          "GPU ranks: replay each step's forward + backward and its optimizer update as CUDA "
          "graphs (captured after one eager step; the gradient all-reduce runs between them); "
          "refused on CPU ranks, with dropout, train.accumulate_steps > 1, "
          "dist.shard_optimizer, synchronised batchnorm and per-pixel class weights or "
          "ignore_index",
          FIELD(train.cuda_graph), to_bool),
      key("dist.timeout", "600",
          "seconds a collective may wait for the other ranks before the job is ended "
          "(a rank stopped participating); 0: no timeout",
          FIELD(timeout_s), number("of seconds >= 0", non_negative)),
      key("train.stop_after_steps", "0",
          "stop (with a checkpoint) after this many global steps; 0: off",
          FIELD(train.stop_after_steps), integer(0)),
      key("train.on_nan", "abort",
          "a step with a non-finite loss or gradient: abort (exit code 4) or skip it "
          "(parameters and optimizer state unchanged)",
          FIELD(train.on_nan),
          [](const std::string& k, const std::string& t) {
            return choice({"abort", "skip"})(k, t) == "skip" ? trainer::NanPolicy::kSkip
                                                             : trainer::NanPolicy::kAbort;
          }),
      key("train.max_nan_skips", "10", "on_nan = skip: this many consecutive skipped steps abort",
          FIELD(train.max_nan_skips), integer(1)),
      key("checkpoint.dir", "", "folder for checkpoints; empty: <run directory>/checkpoints",
          FIELD(checkpoint.dir), as_text),
      key("checkpoint.every_steps", "0", "write a checkpoint every N global steps; 0: off",
          FIELD(checkpoint.every_steps), integer(0)),
      key("checkpoint.every_epochs", "1", "write a checkpoint every N epochs; 0: off",
          FIELD(checkpoint.every_epochs), integer(0)),
      key("checkpoint.keep", "3", "newest checkpoints to keep", FIELD(checkpoint.keep), integer(1)),
      key("checkpoint.resume", "",
          "continue a run: auto (the latest checkpoint of this run, if any) "
          "or a checkpoint file",
          FIELD(resume), as_text),
      key("checkpoint.init", "",
          "start from the weights of a saved model or checkpoint (fine-tuning)", FIELD(init_from),
          as_text),
      key("log.dir", "runs", "folder for run directories", FIELD(log_dir), as_text),
      // The run directory is log.dir/log.name, which log.overwrite deletes: one
      // plain name, never a path that leads elsewhere.
      key("log.name", "", "run directory name; empty: train-<date>-<time>", FIELD(run_name),
          [](const std::string& k, const std::string& t) {
            if (t == "." || t == ".." || t.find('/') != std::string::npos)
              throw Error(k + ": expected a plain directory name (no '/', not '.' or '..'), got '" +
                          t + "'");
            return t;
          }),
      key("log.overwrite", "false",
          "a run directory of this name exists (and the run is not resumed): false refuses to "
          "start; true deletes it (metrics, events, checkpoints, models) before writing the new "
          "run",
          FIELD(log_overwrite), to_bool),
      key("log.every", "100", "steps between progress lines and step records",
          FIELD(train.log_every), integer(1)),
      key("log.progress", "auto",
          "rank 0's progress: auto (a bar on a terminal), bar, lines or off", FIELD(train.progress),
          checked_text([](const std::string& t) { trainer::Progress::parse(t); })),
      key("log.trace", "false",
          "write trace.json in the run directory: a Chrome-trace timeline (Perfetto, "
          "chrome://tracing) of every rank's layers, all-reduce buckets, input waits, optimizer "
          "and checkpoints",
          FIELD(trace), to_bool),
      key("log.trace_steps", "20", "log.trace: the steps recorded (from the run's first step)",
          FIELD(trace_steps), integer(1)),
      key("log.tensorboard", "true", "also write the metrics as TensorBoard scalars (events file)",
          FIELD(log_tensorboard), to_bool),
  };
}

#undef FIELD

// The validation source, the tracked metric and early stopping.
void check_validation(const ConfigValues& v, RunConfig& c) {
  if (!c.val_path.empty() && c.val_fraction > 0)
    throw Error(
        "data.val and data.val_fraction: expected at most one of them, got both (data.val "
        "= '" +
        c.val_path + "', data.val_fraction = " + v.at("data.val_fraction") + ")");
  if (c.folds > 0 && c.fold >= c.folds)
    throw Error("data.fold: expected a fold in [0, " + v.at("data.folds") + "), got '" +
                v.at("data.fold") + "'");
  if (c.folds > 0 && (!c.val_path.empty() || c.val_fraction > 0))
    throw Error("data.folds = " + v.at("data.folds") +
                ": expected neither data.val nor data.val_fraction (cross-validation picks the "
                "validation rows), got data.val = '" +
                c.val_path + "', data.val_fraction = " + v.at("data.val_fraction"));

  const std::string& metric = c.early_stop_metric;
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
  const std::string& mode = c.early_stop_mode;
  e.maximize = mode == "auto" ? trainer::metric_maximized(e.metric) : mode == "max";
}

// The rules between keys, and the core types' own rules.
void check_run_config(const ConfigValues& v, RunConfig& c) {
  if (c.layers.empty() && c.init_from.empty())
    throw Error(
        "model.layers: expected a layer list such as \"dense(128), relu, dense(10)\" (or "
        "checkpoint.init naming a model file to take the layers from), got nothing");
  if (c.train_data.spec.path.empty())
    throw Error("data.train: expected the path of a training dataset, got nothing");
  check_options(c.adam_options());
  check_options(c.sgd_options());
  if (c.min_lr > c.lr)
    throw Error("optim.min_lr: expected a value in [0, optim.lr], got '" + v.at("optim.min_lr") +
                "'");
  if (!c.resume.empty() && !c.init_from.empty())
    throw Error("checkpoint.resume and checkpoint.init: expected at most one of them, got both");
  if (c.resume == "auto" && c.run_name.empty() && c.checkpoint.dir.empty())
    throw Error(
        "checkpoint.resume = auto: expected log.name (or checkpoint.dir) to be set, so that "
        "the run's checkpoints can be found again, got neither");
  if (c.log_overwrite && !c.resume.empty())
    throw Error("checkpoint.resume = " + c.resume +
                " and log.overwrite = true: expected at most one of them (overwrite deletes the "
                "run that resume continues), got both");
  if (c.log_overwrite && !c.checkpoint.dir.empty())
    throw Error("checkpoint.dir = " + c.checkpoint.dir +
                " and log.overwrite = true: expected at most one of them (overwrite deletes the "
                "run directory with its checkpoints; a checkpoint.dir elsewhere would keep the "
                "previous run's checkpoints for resume auto), got both");
  // Under mpirun or srun rank 0's output reaches the terminal through the
  // launcher, which a progress bar's carriage returns do not survive.
  if (c.train.progress == "auto" &&
      (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("SLURM_STEP_ID") != nullptr))
    c.train.progress = "lines";
  check_validation(v, c);
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = make_keys();
  return keys;
}

const ConfigKey* find_key(const std::string& name) {
  for (const ConfigKey& k : config_keys())
    if (k.name == name) return &k;
  return nullptr;
}

ConfigValues default_values() {
  ConfigValues v;
  for (const ConfigKey& k : config_keys()) v[k.name] = k.default_text;
  return v;
}

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

RunConfig to_run_config(const ConfigValues& values) {
  RunConfig c;
  for (const ConfigKey& k : config_keys()) {
    const auto it = values.find(k.name);
    k.apply(it == values.end() ? k.default_text : it->second, c);
  }
  check_run_config(values, c);
  return c;
}

}  // namespace lockstep::launch
