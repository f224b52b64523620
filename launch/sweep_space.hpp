#pragma once
// The search space of `lockstep sweep` (README "sweep"): each --grid option is
// KEY=SPEC, where SPEC is a list of values (comma-separated, or '|'-separated
// when a value holds commas, e.g. model.layers) or, for a random search only,
// a range: uniform:LOW:HIGH, loguniform:LOW:HIGH (0 < LOW) or int:LOW:HIGH
// (both ends included). A grid search runs the Cartesian product of the lists
// (the last key varies fastest); a random search draws N trials, each value
// from its list (uniformly) or range, from (seed, trial, key position) alone.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lockstep::launch {

struct SweepParam {
  enum class Kind { kList, kUniform, kLogUniform, kInt };
  std::string key;
  Kind kind = Kind::kList;
  std::vector<std::string> values;  // kList
  double low = 0.0, high = 0.0;     // the ranges
};

/// One trial: (key, value) for every swept key, in the order the keys were given.
using Trial = std::vector<std::pair<std::string, std::string>>;

/// Parses one --grid option, "KEY=SPEC". Throws lockstep::Error naming the
/// option for a missing '=', an empty key or value, a malformed range.
SweepParam parse_sweep_param(const std::string& text);

/// The Cartesian product of the lists; throws for a range or a key given twice.
std::vector<Trial> grid_trials(const std::vector<SweepParam>& params);

/// `n` >= 1 trials drawn from `seed`; throws for a key given twice.
std::vector<Trial> random_trials(const std::vector<SweepParam>& params, int64_t n, uint64_t seed);

}  // namespace lockstep::launch
