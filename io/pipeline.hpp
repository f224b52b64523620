#pragma once
// The input pipeline of one rank: a background thread assembles the next
// training batches (read, shuffle, normalise) into pinned host tensors while
// the current step runs, so a step does not wait for input when the disk keeps
// up. Two modes, chosen from the shard size and the memory bound:
//
// - kMemory: the shard fits in `memory_bytes` (or the bound is 0 = unlimited).
//   It is read once with hyperslab reads and kept in memory; the epoch order is
//   exactly ShardSampler::epoch_order (so results match io::ShardSampler).
// - kStream: the shard is larger than the bound. It is read in contiguous
//   pieces of about one HDF5 chunk; each epoch shuffles at two levels: the
//   order of the pieces from (seed, epoch, rank), then samples inside a shuffle
//   buffer of bounded size (the memory bound minus the batch buffers). Every
//   epoch still yields exactly steps_per_epoch full batches.
//
// Memory bound and prefetch depth are options. The time next() blocks is
// accumulated (wait_seconds) so the trainer can report input stalls.

#include <cstdint>
#include <memory>

#include "core/tensor.hpp"
#include "io/dataset.hpp"
#include "io/sampler.hpp"

namespace lockstep::io {

struct PipelineOptions {
  int64_t batch_size = 128;   // per rank
  uint64_t seed = 0;
  bool shuffle = true;
  size_t memory_bytes = 0;    // 0: no bound (kMemory); else the bound for the shard data
  int prefetch = 2;           // batches assembled ahead of the consumer (>= 1)
};

enum class PipelineMode { kMemory, kStream };

/// One assembled batch: x (n, ...sample) float32, y (n,) int32 class ids or
/// (n, k) float32 targets; both in pinned host memory where a GPU is present.
struct HostBatch {
  Tensor x;
  Tensor y;
};

class BatchPipeline {
 public:
  /// `rows`: this rank's shard of the file (see shard_range); `steps` the
  /// number of batches per epoch (equal on all ranks, from ShardSampler).
  BatchPipeline(const DatasetSpec& spec, RowRange rows, const Normalization& norm,
                PipelineOptions options, int64_t steps_per_epoch, int rank);
  ~BatchPipeline();  // stops and joins the thread
  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  PipelineMode mode() const;
  /// Starts producing the batches of `epoch` (call once per epoch, in order).
  void start_epoch(int64_t epoch);
  /// The next batch of the current epoch; blocks until it is ready. The batch
  /// stays valid until the call after next (two batches may be in use: one
  /// being copied to the device while the next is prepared). Rethrows any
  /// error of the background thread (e.g. a read failure) with its message.
  const HostBatch& next();
  /// Seconds next() spent waiting for input since construction.
  double wait_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep::io
