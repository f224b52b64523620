#pragma once
// The saved-model file (HDF5): the flat parameter slab, its layout, the model
// description and the effective config. Format (documented in the README):
//   /            attributes: lockstep_format = "model/1", layers (string),
//                input_shape (int64[]), loss (string), num_outputs (int64),
//                config (string: the effective INI), class_names (string[],
//                optional: the training data's class names, id order)
//   /parameters  float32 (P,)       the flat parameter slab
//   /layout/names    string (L,)    parameter names, in slab order
//   /layout/offsets  int64 (L,)     first element of each parameter in the slab
//   /layout/shapes   string (L,)    shapes as "256x784"
//   /buffers     float32 (B,)       optional non-trained state (e.g. running stats)

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lockstep::io {

struct ParamEntry {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;
};

/// What a checkpoint holds besides the model (lockstep_format "checkpoint/1"):
///   /optimizer/<slab>  float32 (P,)   optimizer state slabs, parameter layout
///   /optimizer attributes: name, steps
///   / attributes: step (global steps done), epoch, step_in_epoch (where the
///   next step is), world_size, seed
struct TrainingState {
  std::string optimizer;
  int64_t optimizer_steps = 0;
  std::vector<std::pair<std::string, std::vector<float>>> optimizer_slabs;
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t step_in_epoch = 0;
  int64_t world_size = 1;
  int64_t seed = 0;
};

/// The best validation figure of a run (root attributes best_metric,
/// best_value, best_epoch, bad_epochs): in best.h5, the model it was reached
/// with; in a checkpoint, the early-stopping state to resume (bad_epochs:
/// epochs since the best without improvement). Absent in older files.
struct BestRecord {
  std::string metric;  // e.g. "val_loss"
  double value = 0.0;
  int64_t epoch = 0;  // 1-based, as in metrics.jsonl
  int64_t bad_epochs = 0;
};

struct SavedModel {
  std::string layers;                // the model spec, e.g. "dense(256), relu, dense(10)"
  std::vector<int64_t> input_shape;  // per-sample input shape
  std::string loss;                  // "cross_entropy" or "mse"
  int64_t num_outputs = 0;
  std::string config;                    // effective config, INI text
  std::vector<std::string> class_names;  // the training data's, by class id; empty: none
  std::vector<ParamEntry> layout;
  std::vector<float> parameters;
  std::vector<float> buffers;
  std::optional<TrainingState> training;  // checkpoints only
  std::optional<BestRecord> best;         // best.h5 and checkpoints of runs with validation
};

/// Writes atomically: temporary name in the same folder, flush, rename.
void save_model(const std::string& path, const SavedModel& model);
/// Reads and validates (format attribute, layout within the slab); reads
/// model files and checkpoints alike (a checkpoint's training state too).
SavedModel load_model(const std::string& path);

}  // namespace lockstep::io
