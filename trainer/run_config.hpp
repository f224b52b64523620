#pragma once
// Everything a training run is configured with: the plain struct the
// configuration keys land in (launch/config_keys.cpp holds one entry per key:
// name, type, default, help, check and the field below it fills). The member
// defaults are the keys' defaults (a test checks every one).

#include <cstdint>
#include <optional>
#include <string>

#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/optimizer.hpp"
#include "core/schedule.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/data.hpp"
#include "trainer/early_stop.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::trainer {

struct RunConfig {
  // model
  std::string layers;
  LossKind loss = LossKind::kCrossEntropy;
  LossOptions loss_options;  // model.ignore_index (none), model.class_weights (empty)
  InitScheme init = InitScheme::kHe;
  // data
  DataOptions train_data;
  std::string test_path;                // empty: no test set
  std::string val_path;                 // a separate validation file; empty: none
  double val_fraction = 0.0;            // > 0: validation rows split off the training file
  std::optional<uint64_t> val_seed;     // the split's seed; unset: train.seed
  int64_t folds = 0;                    // >= 2: validate on fold `fold` (cross-validation)
  int64_t fold = 0;
  std::string early_stop_metric = "none";  // a validation figure, or none
  std::string early_stop_mode = "auto";    // min | max | auto
  EarlyStopOptions early_stop;  // from the two above: the tracked metric (best.h5), stopping
  TrainOptions train;
  int64_t global_batch_size = 0;  // 0: train.batch_size is per rank
  // optimizer
  std::string optimizer = "sgd";  // sgd | adam | adamw
  double lr = 0.01;               // for the global batch (scaled by scale_lr)
  int64_t scale_lr = 0;           // linear scaling: lr * global batch / scale_lr; 0: off
  double momentum = 0.9;          // sgd
  bool nesterov = false;          // sgd
  double weight_decay = 0.0;      // L2 (sgd, adam) or decoupled (adamw)
  AdamOptions adam;               // beta1, beta2, eps (weight decay from weight_decay)
  ScheduleKind schedule = ScheduleKind::kConstant;
  double warmup_epochs = 0.0;
  double min_lr = 0.0;            // cosine
  int64_t step_epochs = 10;       // step / exponential: epochs per decay
  double gamma = 0.1;
  // dist
  int threads = 0;                 // 0: cores / local ranks
  std::string device = "auto";     // auto | cpu | cuda
  std::string precision = "fp32";  // fp32 | tf32 | bf16 (core/precision.hpp)
  std::string conv_backend = "auto";  // auto | cudnn | im2col (GPU convolutions)
  bool allow_shared_gpu = false;   // several ranks on one GPU (tests)
  double timeout_s = 600;          // collective watchdog; 0: off
  // checkpoints and logs
  CheckpointOptions checkpoint{"", 0, 1, 3};
  std::string resume;     // "", "auto" or a checkpoint path
  std::string init_from;  // weights to start from
  std::string log_dir = "runs";
  std::string run_name;         // empty: train-<date>-<time>
  bool log_overwrite = false;   // an existing run directory is deleted (else refused)
  bool log_tensorboard = true;  // events file beside metrics.jsonl
  bool trace = false;           // trace.json: the timeline of the first trace_steps steps
  int64_t trace_steps = 20;

  SgdOptions sgd_options() const { return {momentum, nesterov, weight_decay}; }
  AdamOptions adam_options() const {
    AdamOptions a = adam;
    a.weight_decay = weight_decay;
    return a;
  }
  bool has_validation() const { return !val_path.empty() || val_fraction > 0 || folds > 0; }
  /// The seed of the validation split or folds.
  uint64_t split_seed() const { return val_seed.value_or(train.seed); }
};

}  // namespace lockstep::trainer
