#pragma once
// The input pipeline of one rank: a background thread assembles the next
// training batches (read, shuffle, normalise) into pinned host tensors while
// the current step runs, so a step does not wait for input when the disk keeps
// up. Two modes, chosen from the shard size and the memory bound:
//
// - kMemory: the shard plus the batch slots fit in `memory_bytes` (or the
//   bound is 0 = unlimited).
//   It is read once with hyperslab reads and kept in memory; the epoch order is
//   exactly ShardSampler::epoch_order (so results match io::ShardSampler).
// - kStream: the shard is larger than the bound. It is read in contiguous
//   pieces of about one HDF5 chunk; each epoch shuffles at two levels: the
//   order of the pieces from (seed, epoch, rank), then samples inside a shuffle
//   buffer of bounded size (the memory bound minus the batch buffers). Every
//   epoch still yields exactly steps_per_epoch full batches (rows not drawn
//   are skipped that epoch). Unshuffled, it reads in ShardSampler's order, so
//   both modes then give the same batches.
//
// Memory bound and prefetch depth are options. The time next() blocks is
// accumulated (wait_seconds) so the trainer can report input stalls.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/tensor.hpp"
#include "io/augment.hpp"
#include "io/dataset.hpp"
#include "io/rows.hpp"
#include "io/sampler.hpp"

namespace lockstep::io {

struct PipelineOptions {
  int64_t batch_size = 128;  // per rank
  uint64_t seed = 0;
  bool shuffle = true;
  size_t memory_bytes = 0;  // 0: no bound (kMemory); else the bound for resident_bytes()
  int prefetch = 2;         // batches assembled ahead of the consumer (>= 1)
  AugmentOptions augment;   // applied to each batch on the pipeline's thread
};

/// Blocks until the device has read the pinned host memory at `host`; the
/// pipeline's thread calls it for a slot's x and y before refilling them.
/// Default: memory::wait_device_reads. Tests substitute their own.
using WaitDeviceReads = std::function<void(const void* host)>;

enum class PipelineMode { kMemory, kStream };

/// One assembled batch: x (n, ...sample) float32, y (n,) or (n, H, W) int32 class ids or
/// (n, k) float32 targets; both in pinned host memory where a GPU is present.
struct HostBatch {
  Tensor x;
  Tensor y;
};

class BatchPipeline {
 public:
  /// Trains on the first `num_rows` rows of the file (normally all N of them;
  /// at most N), sharded exactly like ShardSampler(num_rows, world, rank,
  /// options.batch_size, options.seed, options.shuffle): the same shard, the
  /// same steps per epoch on every rank. Checks the schema, the normalisation
  /// and the options here; in kMemory mode the shard is also loaded here.
  BatchPipeline(const DatasetSpec& spec, int64_t num_rows, int world, int rank,
                const Normalization& norm, PipelineOptions options,
                WaitDeviceReads wait_device_reads = {});
  /// Trains on the file rows `rows` (e.g. those left after a validation
  /// split): the sampler shards their positions 0..rows.size()-1 as above; in
  /// kStream mode the pieces are read as spans of file rows and the rows
  /// outside the set dropped.
  BatchPipeline(const DatasetSpec& spec, RowSet rows, int world, int rank,
                const Normalization& norm, PipelineOptions options,
                WaitDeviceReads wait_device_reads = {});
  ~BatchPipeline();  // stops and joins the thread (also in the middle of an epoch)
  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  PipelineMode mode() const;
  /// This rank's positions in the row set (shard_range; the file rows when
  /// the set is all rows) and full batches per epoch.
  RowRange shard() const;
  int64_t steps_per_epoch() const;
  /// Bytes this pipeline holds for data: the shard (kMemory) or the shuffle
  /// buffer (kStream), plus the batch slots. At most memory_bytes when that
  /// is > 0. HDF5's chunk cache (one chunk per dataset) is not counted.
  size_t resident_bytes() const;

  /// Starts producing the batches of `epoch`: epochs must increase (resuming
  /// at any epoch is fine). Batches of an unfinished previous epoch are dropped.
  void start_epoch(int64_t epoch);
  /// The next batch of the current epoch (at most steps_per_epoch() per
  /// epoch); blocks until it is ready. The batch
  /// stays valid until the call after next (two batches may be in use: one
  /// being copied to the device while the next is prepared); asynchronous
  /// copies from it to the device may still run after that: the thread
  /// refills a slot only once the device has read it (WaitDeviceReads).
  /// Rethrows any error of the background thread (e.g. a read failure) with
  /// its message.
  const HostBatch& next();
  /// Seconds next() spent waiting for input since construction.
  double wait_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep::io
