// Row sets and the validation split (see rows.hpp).
//
// Decisions:
// - The split is selection sampling (Knuth's algorithm S) with integer draws:
//   exactly k = round(f * n) rows, sorted by construction, O(n) time and no
//   permutation of n entries; every k-subset is equally likely.
// - load_rows reads the span of file rows of a rank's positions at once (the
//   reads stay contiguous and chunk-friendly) and drops the rows outside the
//   set; the transient memory is the span, the kept memory only the set's rows.
// - Folds: a shuffled list of the labels i % k (Fisher-Yates) rather than k
//   rounds of selection sampling: one pass, balanced sizes by construction.

#include "io/rows.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lockstep::io {

namespace {
constexpr uint64_t kSplitSalt = 0x76616c73706c6974ull;  // "valsplit"
constexpr uint64_t kFoldSalt = 0x6b666f6c64737074ull;   // "kfoldspt"
}  // namespace

RowSet RowSet::all(int64_t n) {
  LOCKSTEP_CHECK(n >= 0, "row set: " << n << " rows is invalid; expected >= 0");
  RowSet s;
  s.size_ = n;
  return s;
}

RowSet RowSet::of(std::vector<int64_t> rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    LOCKSTEP_CHECK(
        rows[i] >= 0 && (i == 0 || rows[i] > rows[i - 1]),
        "row set: row " << rows[i] << " at position " << i << "; expected increasing rows >= 0");
  }
  RowSet s;
  s.size_ = static_cast<int64_t>(rows.size());
  s.rows_ = std::make_shared<const std::vector<int64_t>>(std::move(rows));
  return s;
}

int64_t RowSet::lower_bound(int64_t file_row) const {
  if (!rows_) return std::clamp<int64_t>(file_row, 0, size_);
  return std::lower_bound(rows_->begin(), rows_->end(), file_row) - rows_->begin();
}

std::vector<int64_t> RowSet::rows(RowRange p) const {
  std::vector<int64_t> out(static_cast<size_t>(p.size()));
  for (int64_t i = p.begin; i < p.end; ++i) out[static_cast<size_t>(i - p.begin)] = row(i);
  return out;
}

RowSplit split_rows(int64_t n, double fraction, uint64_t seed) {
  LOCKSTEP_CHECK(fraction >= 0 && fraction < 1,
                 "data.val_fraction: expected 0 <= f < 1, got " << fraction);
  const auto k = static_cast<int64_t>(std::llround(fraction * static_cast<double>(n)));
  if (k == 0) return {RowSet::all(n), RowSet::all(0)};
  Rng rng(hash_keys({seed, kSplitSalt}));
  std::vector<int64_t> train, val;
  train.reserve(static_cast<size_t>(n - k));
  val.reserve(static_cast<size_t>(k));
  for (int64_t i = 0; i < n; ++i) {
    const auto needed = static_cast<uint64_t>(k - static_cast<int64_t>(val.size()));
    const bool take = rng.below(static_cast<uint64_t>(n - i)) < needed;
    (take ? val : train).push_back(i);
  }
  return {RowSet::of(std::move(train)), RowSet::of(std::move(val))};
}

std::vector<int32_t> fold_assignment(int64_t n, int64_t k, uint64_t seed) {
  LOCKSTEP_CHECK(k >= 2 && k <= n,
                 "cross-validation: expected 2 <= folds <= " << n << " (the rows), got " << k);
  std::vector<int32_t> fold(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) fold[static_cast<size_t>(i)] = static_cast<int32_t>(i % k);
  Rng rng(hash_keys({seed, kFoldSalt, static_cast<uint64_t>(k)}));
  for (int64_t i = n - 1; i > 0; --i)  // Fisher-Yates
    std::swap(fold[static_cast<size_t>(i)],
              fold[static_cast<size_t>(rng.below(static_cast<uint64_t>(i + 1)))]);
  return fold;
}

RowSplit fold_split(int64_t n, int64_t k, int64_t fold, uint64_t seed) {
  LOCKSTEP_CHECK(fold >= 0 && fold < k,
                 "cross-validation: expected a fold in [0, " << k << "), got " << fold);
  const std::vector<int32_t> folds = fold_assignment(n, k, seed);
  std::vector<int64_t> train, val;
  for (int64_t i = 0; i < n; ++i)
    (folds[static_cast<size_t>(i)] == fold ? val : train).push_back(i);
  return {RowSet::of(std::move(train)), RowSet::of(std::move(val))};
}

Shard load_rows(const DatasetSpec& spec, const RowSet& rows, RowRange positions,
                bool with_features) {
  LOCKSTEP_CHECK(
      0 <= positions.begin && positions.begin <= positions.end && positions.end <= rows.size(),
      "dataset file '" << spec.path << "': cannot load positions [" << positions.begin << ", "
                       << positions.end << ") of a set of " << rows.size() << " rows");
  if (positions.size() == 0) return Shard::load(spec, 0, 0, with_features);
  const int64_t first = rows.row(positions.begin);
  const int64_t last = rows.row(positions.end - 1);
  Shard shard = Shard::load(spec, first, last + 1, with_features);
  if (last + 1 - first != positions.size()) {
    std::vector<int64_t> keep = rows.rows(positions);
    for (int64_t& r : keep) r -= first;
    shard.keep(keep);
  }
  return shard;
}

}  // namespace lockstep::io
