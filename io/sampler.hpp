#pragma once
// Sharding and per-epoch order (DESIGN.md "Data").
//
// Rank r of P owns the contiguous rows [r*N/P ..) of the file: the first N % P
// ranks own one row more. Training: every rank runs the same number of steps
// per epoch, floor(floor(N / P) / b), computed from N, P and b alone; each step
// takes b rows of the rank's shard in an order shuffled from (seed, epoch, rank);
// rows left over in an epoch are different rows in the next one.
// Evaluation and prediction: the rows are cut into consecutive batches of b
// rows (the last one partial) and rank r owns a contiguous run of whole
// batches (block_shard_range); every rank visits every row of its shard
// exactly once, in order, batch by batch. So each batch holds the same rows on
// any number of ranks, and a row's outputs, computed in the same call at the
// same position, have the same bits (see core/ops/gemm_cpu.hpp, "Note: GEMM tiles").

#include <cstdint>
#include <vector>

namespace lockstep::io {

struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

/// The contiguous rows of rank `rank` of `world`; requires num_rows >= world.
RowRange shard_range(int64_t num_rows, int world, int rank);

/// The rows of rank `rank` of `world` when [0, num_rows) is cut into blocks of
/// `block` rows (the last one partial): the contiguous blocks
/// [r*B/P, (r+1)*B/P) of the B blocks, the first B % P ranks owning one block
/// more. A rank may own none (an empty range) when B < P.
RowRange block_shard_range(int64_t num_rows, int64_t block, int world, int rank);

class ShardSampler {
 public:
  /// Throws lockstep::Error when num_rows < world (naming both) or when the
  /// batch is larger than the smallest shard (no step could run).
  ShardSampler(int64_t num_rows, int world, int rank, int64_t batch, uint64_t seed,
               bool shuffle = true);

  RowRange shard() const { return shard_; }
  int64_t batch() const { return batch_; }
  int64_t steps_per_epoch() const { return steps_; }

  /// Local row indices (0-based within the shard) of the whole epoch; the first
  /// steps_per_epoch() * batch() are used, batch `s` is [s*b, (s+1)*b).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  RowRange shard_;
  int64_t batch_;
  int64_t steps_;
  uint64_t seed_;
  int rank_;
  bool shuffle_;
};

}  // namespace lockstep::io
