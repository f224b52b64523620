#pragma once
// The rows of a file in use and the validation split (DESIGN.md "Data").
//
// A RowSet is the list of file rows a run uses, in file order: all of [0, n)
// (the usual case, stored as nothing) or a sorted subset (the training rows
// left after a validation split). Sharding, sampling and evaluation work over
// *positions* 0..size()-1 of the set exactly as they did over the rows of a
// whole file; row(i) maps a position to its file row.
//
// split_rows takes round(f * n) rows out of [0, n) as the validation rows: a
// uniform random subset drawn from the seed alone (never from the world size
// or the rank), so every rank computes the same split for any number of ranks.

#include <cstdint>
#include <memory>
#include <vector>

#include "io/dataset.hpp"
#include "io/sampler.hpp"

namespace lockstep::io {

class RowSet {
 public:
  RowSet() = default;
  /// All rows [0, n).
  static RowSet all(int64_t n);
  /// The given rows; throws unless strictly increasing and >= 0.
  static RowSet of(std::vector<int64_t> rows);

  int64_t size() const { return size_; }
  bool contiguous() const { return !rows_; }
  /// The file row of position i (0 <= i < size()).
  int64_t row(int64_t i) const { return rows_ ? (*rows_)[static_cast<size_t>(i)] : i; }
  /// The first position whose file row is >= file_row (size() when none).
  int64_t lower_bound(int64_t file_row) const;
  /// The file rows of positions [p.begin, p.end), as a list.
  std::vector<int64_t> rows(RowRange p) const;

 private:
  int64_t size_ = 0;
  std::shared_ptr<const std::vector<int64_t>> rows_;  // null: [0, size_)
};

struct RowSplit {
  RowSet train;
  RowSet val;
};

/// Splits rows [0, n) into training and validation rows: round(fraction * n)
/// validation rows drawn from `seed` (selection sampling: row i is taken with
/// probability needed / left), the rest training rows. fraction in [0, 1);
/// fraction 0 gives all rows for training and no validation rows.
RowSplit split_rows(int64_t n, double fraction, uint64_t seed);

/// k-fold cross-validation: the fold (0..k-1) of every row of [0, n). A seeded
/// random permutation of the labels p % k, so the folds are disjoint, cover
/// [0, n) and differ in size by at most one; drawn from `seed` alone (never
/// from the world size or the rank). Requires 2 <= k <= n.
std::vector<int32_t> fold_assignment(int64_t n, int64_t k, uint64_t seed);

/// Fold `fold` of fold_assignment(n, k, seed) as the validation rows, the other
/// k - 1 folds as the training rows (both sorted).
RowSplit fold_split(int64_t n, int64_t k, int64_t fold, uint64_t seed);

/// The rows of positions `positions` of `rows` in memory: one hyperslab read of
/// the file rows they span, then only those rows kept (Shard::keep).
Shard load_rows(const DatasetSpec& spec, const RowSet& rows, RowRange positions,
                bool with_features = true);

}  // namespace lockstep::io
