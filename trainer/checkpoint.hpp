#pragma once
// Checkpoints (DESIGN.md "Checkpoints"): the model, its buffers, the optimizer
// state and the training position in one HDF5 file (io/model_file.hpp,
// lockstep_format "checkpoint/1"), written by rank 0 atomically (temporary
// name, flush, rename) as <dir>/ckpt-<step>.h5, then the pointer file
// <dir>/latest updated the same way; only the newest `keep` are kept.
//
// Everything random is a function of (seed, step, epoch, rank), so the
// position is the whole RNG and sampler state: a run resumed from step k on
// the same number of ranks repeats the uninterrupted run bit for bit (CPU).

#include <cstdint>
#include <string>
#include <vector>

#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/optimizer.hpp"
#include "io/model_file.hpp"

namespace lockstep::trainer {

/// Where training stands: global steps done, and the epoch / step within it
/// of the next step.
struct Position {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t step_in_epoch = 0;
};

struct CheckpointOptions {
  std::string dir;           // empty: no checkpoints
  int64_t every_steps = 0;   // > 0: every N global steps
  int64_t every_epochs = 0;  // > 0: at the end of every N epochs
  int keep = 3;              // newest checkpoints kept

  /// The checkpoint policy: whether one is written once training reached
  /// `next` (every every_steps global steps, at the end of every
  /// every_epochs-th epoch, and whenever the run stops early).
  bool due(const Position& next, bool epoch_end, bool stopping) const {
    return (every_steps > 0 && next.step % every_steps == 0) ||
           (epoch_end && every_epochs > 0 && next.epoch % every_epochs == 0) || stopping;
  }
};

/// The model with its training state (parameters and optimizer state copied to the host).
io::SavedModel checkpoint_snapshot(const Model& model, LossKind loss, const std::string& config,
                                   Optimizer& optimizer, const Position& position, int world_size,
                                   uint64_t seed);

/// The same with the optimizer's state slabs given over the whole parameter
/// slab (a sharded optimizer's, gathered: Trainer::full_optimizer_state).
io::SavedModel checkpoint_snapshot(const Model& model, LossKind loss, const std::string& config,
                                   const std::string& optimizer_name, int64_t optimizer_steps,
                                   const std::vector<std::pair<std::string, Tensor>>& slabs,
                                   const Position& position, int world_size, uint64_t seed);

/// Loads parameters, buffers and (when `optimizer` is given and the file has
/// it) optimizer state; checks that the optimizer matches. The optimizer's
/// state slabs take the file's elements from `first` on (a sharded
/// optimizer's slice of the parameters; 0: the whole slab).
void restore_state(const io::SavedModel& saved, const std::string& path, Model& model,
                   Optimizer* optimizer, int64_t first = 0);

/// Writes <dir>/ckpt-<step>.h5 and the `latest` pointer; prunes to `keep`.
/// Returns the checkpoint's path. Rank 0 only.
std::string write_checkpoint(const CheckpointOptions& options, const io::SavedModel& checkpoint);

/// The checkpoint `latest` points to in `dir`, or "" when there is none.
std::string latest_checkpoint(const std::string& dir);

/// What `checkpoint.resume = auto` resumes from.
struct FoundCheckpoint {
  std::string path;  // "" when `dir` holds no checkpoint
  io::SavedModel model;
  std::vector<std::string> skipped;  // "'<path>': <why it did not load>", newest first
};

/// Loads the checkpoint `latest` names in `dir`. When it does not load (damaged,
/// checksum mismatch, missing) the next older ckpt-*.h5 that loads is used
/// instead and every one passed over is listed in `skipped` (the steps since
/// are trained again). Throws, naming each file and why, when checkpoints exist
/// but none loads.
FoundCheckpoint load_latest_checkpoint(const std::string& dir);

}  // namespace lockstep::trainer
