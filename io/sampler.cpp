// Shard ranges and per-epoch row order (see sampler.hpp).
//
// Decisions:
// - Shuffled epochs are a Fisher-Yates shuffle of 0..n-1 driven by
//   Rng(hash_keys({seed, epoch, rank})): a pure function of those three values,
//   so any epoch can be recomputed after a restart without replaying the earlier
//   ones, and the leftover rows of an epoch are a fresh random set each time.
// - Unshuffled epochs are 0..n-1 rotated by epoch * steps * batch, so the rows
//   left over at the end of one epoch are the first ones of the next: every row
//   is still used, in file order.

#include "io/sampler.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lockstep::io {

RowRange shard_range(int64_t num_rows, int world, int rank) {
  LOCKSTEP_CHECK(world >= 1, "world size " << world << " is invalid; expected >= 1");
  LOCKSTEP_CHECK(rank >= 0 && rank < world,
                 "rank " << rank << " is invalid; expected 0 <= rank < " << world);
  LOCKSTEP_CHECK(num_rows >= world, "dataset has "
                                        << num_rows << " samples but " << world
                                        << " ranks: every rank needs at least one sample");
  const int64_t base = num_rows / world;
  const int64_t extra = num_rows % world;
  const int64_t r = rank;
  RowRange range;
  range.begin = r * base + std::min(r, extra);
  range.end = range.begin + base + (r < extra ? 1 : 0);
  return range;
}

RowRange block_shard_range(int64_t num_rows, int64_t block, int world, int rank) {
  LOCKSTEP_CHECK(world >= 1, "world size " << world << " is invalid; expected >= 1");
  LOCKSTEP_CHECK(rank >= 0 && rank < world,
                 "rank " << rank << " is invalid; expected 0 <= rank < " << world);
  LOCKSTEP_CHECK(block >= 1, "shard block of " << block << " rows is invalid; expected >= 1");
  LOCKSTEP_CHECK(num_rows >= 0, "row count " << num_rows << " is invalid; expected >= 0");
  const int64_t blocks = (num_rows + block - 1) / block;
  if (blocks == 0) return {};
  const RowRange b = blocks >= world ? shard_range(blocks, world, rank)
                                     : RowRange{std::min<int64_t>(rank, blocks),
                                                std::min<int64_t>(rank + 1, blocks)};
  return {std::min(num_rows, b.begin * block), std::min(num_rows, b.end * block)};
}

ShardSampler::ShardSampler(int64_t num_rows, int world, int rank, int64_t batch, uint64_t seed,
                           bool shuffle)
    : shard_(shard_range(num_rows, world, rank)),
      batch_(batch),
      steps_(0),
      seed_(seed),
      rank_(rank),
      shuffle_(shuffle) {
  LOCKSTEP_CHECK(batch >= 1, "batch size " << batch << " is invalid; expected >= 1");
  const int64_t smallest = num_rows / world;
  LOCKSTEP_CHECK(batch <= smallest, "batch size " << batch << " is larger than the smallest shard ("
                                                  << smallest << " rows with " << world
                                                  << " ranks): no training step can run");
  steps_ = smallest / batch;
}

std::vector<int64_t> ShardSampler::epoch_order(int64_t epoch) const {
  LOCKSTEP_CHECK(epoch >= 0, "epoch " << epoch << " is invalid; expected >= 0");
  const int64_t n = shard_.size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle_) {
    const int64_t used = steps_ * batch_;
    const int64_t shift = (epoch % n) * used % n;  // used <= n: no overflow below 3e9 rows
    std::rotate(order.begin(), order.begin() + shift, order.end());
    return order;
  }
  Rng rng(hash_keys({seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(rank_)}));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

}  // namespace lockstep::io
