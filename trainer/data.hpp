#pragma once
// ShardedData: one rank's shard of an HDF5 dataset, turned into batches of
// tensors. Opening is collective: every rank validates its part, and bad input
// on any rank ends every rank with the message (comm::agree_or_throw).

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "comm/communicator.hpp"
#include "core/tensor.hpp"
#include "io/augment.hpp"
#include "io/dataset.hpp"
#include "io/rows.hpp"
#include "io/sampler.hpp"

namespace lockstep::trainer {

struct DataOptions {
  io::DatasetSpec spec;
  io::Normalization norm;
  int64_t limit = 0;  // > 0: use only the first `limit` rows of the file
  // > 0: ranks own whole blocks of this many rows (io::block_shard_range), so
  // that evaluation batches of this size hold the same rows on any number of
  // ranks; a rank may then own none. 0: io::shard_range (training).
  int64_t shard_block = 0;
};

/// Training input: the pipeline's memory bound, prefetch depth, augmentation.
struct InputOptions {
  size_t memory_bytes = 0;  // 0: the shard is held in memory; else stream above this bound
  int prefetch = 2;
  io::AugmentOptions augment;
};

/// What the model expects of a dataset.
struct ModelInterface {
  Shape input_shape;        // per-sample
  int64_t num_outputs = 0;  // classes (cross-entropy) or target width (mse)
  bool class_ids = true;    // cross-entropy wants class ids; mse float targets
  Shape output_map;         // per-pixel class scores (C, H, W): {H, W}; else empty
};

class ShardedData {
 public:
  /// Collective over `comm`: probes the file, loads rows of shard_range(N, P, r)
  /// (or of block_shard_range with DataOptions::shard_block)
  /// (only their labels when !with_features: training reads its features
  /// through the input pipeline). With `rows`, only those file rows are used
  /// (a validation split; within the first DataOptions::limit rows), sharded
  /// by position in the set.
  ShardedData(const DataOptions& options, comm::Communicator& comm, bool with_features = true,
              std::optional<io::RowSet> rows = std::nullopt);

  const io::DatasetInfo& info() const { return shard_.info(); }
  /// Rows of the file in use (all, the first DataOptions::limit, or the set given).
  int64_t num_rows() const { return rows_.size(); }
  const io::RowSet& rows() const { return rows_; }
  const io::Shard& shard() const { return shard_; }
  const DataOptions& options() const { return options_; }
  int64_t local_rows() const { return shard_.size(); }
  /// The position in rows() of local row 0.
  int64_t first_position() const { return first_position_; }

  /// Collective: checks that the data fits the model (sample shape, label
  /// kind, class ids in range / target width) on every rank.
  void check_fits(const ModelInterface& model, comm::Communicator& comm) const;

  /// Fills x (n, ...sample) float32 and y ((n,) or (n, H, W) int32, or (n, k) float32) with
  /// local rows `rows`, reusing their buffers.
  void fill(std::span<const int64_t> rows, Tensor& x, Tensor& y) const;

 private:
  DataOptions options_;
  io::RowSet rows_;
  int64_t first_position_ = 0;
  io::Shard shard_;
};

/// The data of a training run: the training rows (labels only; the pipeline
/// reads their features) and the validation rows when there are any.
struct RunData {
  std::unique_ptr<ShardedData> train;
  std::unique_ptr<ShardedData> val;
};

/// Where the validation rows come from: a separate file, a seeded fraction of
/// the training file's rows (after its limit; io::split_rows), or one fold of
/// a seeded k-fold partition of them (io::fold_split; cross-validation); the
/// validation rows are then left out of training. At most one of the three.
struct ValidationSource {
  std::string path;
  double fraction = 0.0;
  uint64_t seed = 0;
  int64_t folds = 0;  // >= 2: validate on fold `fold` of `folds`, train on the others
  int64_t fold = 0;
};

/// Collective: opens the training data and its validation rows, the latter
/// sharded in whole evaluation batches of `eval_batch_size` rows.
RunData open_run_data(const DataOptions& train, const ValidationSource& val,
                      int64_t eval_batch_size, comm::Communicator& comm);

/// The classes of a classification run's data and where the count comes from.
struct ClassCount {
  int64_t count = 0;
  std::string source;  // "its class_names attribute", "class ids 0..9 in '/labels'"
};

/// Collective: the number of classes of the training data: the length of the
/// training file's class_names attribute when it has one, else the largest
/// class id over every rank's training rows (and validation rows taken from
/// the same file) + 1. The same answer on every rank.
ClassCount count_classes(const RunData& data, comm::Communicator& comm);

/// Collective: with class ids (cross-entropy), the model's last layer
/// (`last_layer`, e.g. "dense(10)") must give one output per class of the
/// training data (count_classes); otherwise an error on every rank naming
/// the layer, its width and the class count. Nothing to check for targets.
void check_output_width(const ModelInterface& model, const std::string& last_layer,
                        const RunData& data, comm::Communicator& comm);

}  // namespace lockstep::trainer
