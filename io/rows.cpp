// Row sets and the validation split (see rows.hpp).
//
// Decisions:
// - The split is selection sampling (Knuth's algorithm S) with integer draws:
//   exactly k = round(f * n) rows, sorted by construction, O(n) time and no
//   permutation of n entries; every k-subset is equally likely.
// - load_rows reads the span of file rows of a rank's positions at once (the
//   reads stay contiguous and chunk-friendly) and drops the rows outside the
//   set; the transient memory is the span, the kept memory only the set's rows.

#include "io/rows.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lockstep::io {

namespace {
constexpr uint64_t kSplitSalt = 0x76616c73706c6974ull;  // "valsplit"
}

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

Shard load_rows(const DatasetSpec& spec, const RowSet& rows, RowRange positions,
                bool with_features) {
  LOCKSTEP_CHECK(
      0 <= positions.begin && positions.begin < positions.end && positions.end <= rows.size(),
      "dataset file '" << spec.path << "': cannot load positions [" << positions.begin << ", "
                       << positions.end << ") of a set of " << rows.size() << " rows");
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
