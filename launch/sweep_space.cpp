// The sweep's search space (see sweep_space.hpp).

#include "launch/sweep_space.hpp"

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lockstep::launch {

namespace {

constexpr uint64_t kSweepSalt = 0x7377656570726e64ull;  // "sweeprnd"

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(trim(item));
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

double number(const std::string& option, const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw Error("--grid '" + option + "': expected a number, got '" + text + "'");
}

void check_unique(const std::vector<SweepParam>& params) {
  std::set<std::string> seen;
  for (const SweepParam& p : params)
    if (!seen.insert(p.key).second)
      throw Error("--grid: expected each key once, got " + p.key + " twice");
}

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

SweepParam parse_sweep_param(const std::string& text) {
  const auto eq = text.find('=');
  SweepParam p;
  p.key = trim(text.substr(0, eq));
  if (eq == std::string::npos || p.key.empty())
    throw Error("--grid '" + text +
                "': expected KEY=VALUES, e.g. optim.lr=0.01,0.1 or optim.lr=loguniform:1e-4:1e-1");
  const std::string spec = trim(text.substr(eq + 1));
  const auto colon = spec.find(':');
  const std::string head = spec.substr(0, colon);
  if (colon != std::string::npos && (head == "uniform" || head == "loguniform" || head == "int")) {
    const std::vector<std::string> parts = split(spec.substr(colon + 1), ':');
    if (parts.size() != 2)
      throw Error("--grid '" + text + "': expected " + head + ":LOW:HIGH, got '" + spec + "'");
    p.low = number(text, parts[0]);
    p.high = number(text, parts[1]);
    p.kind = head == "uniform"      ? SweepParam::Kind::kUniform
             : head == "loguniform" ? SweepParam::Kind::kLogUniform
                                    : SweepParam::Kind::kInt;
    if (p.kind == SweepParam::Kind::kInt &&
        (p.low != std::floor(p.low) || p.high != std::floor(p.high)))
      throw Error("--grid '" + text + "': expected int:LOW:HIGH with integers, got '" + spec + "'");
    if (!(p.low < p.high) || (p.kind == SweepParam::Kind::kLogUniform && !(p.low > 0)))
      throw Error("--grid '" + text + "': expected " + head + ":LOW:HIGH with " +
                  (p.kind == SweepParam::Kind::kLogUniform ? "0 < LOW < HIGH" : "LOW < HIGH") +
                  ", got '" + spec + "'");
    return p;
  }
  p.values = split(spec, spec.find('|') != std::string::npos ? '|' : ',');
  if (p.values.empty()) p.values.push_back("");  // "key=": reported below
  for (const std::string& v : p.values)
    if (v.empty())
      throw Error("--grid '" + text + "': expected a list of non-empty values, got '" + spec + "'");
  return p;
}

std::vector<Trial> grid_trials(const std::vector<SweepParam>& params) {
  check_unique(params);
  std::vector<Trial> trials{Trial{}};
  for (const SweepParam& p : params) {
    if (p.kind != SweepParam::Kind::kList)
      throw Error("--grid " + p.key +
                  ": a range needs a random search (--random N); a grid takes lists of values");
    std::vector<Trial> next;
    for (const Trial& t : trials)
      for (const std::string& v : p.values) {
        next.push_back(t);
        next.back().emplace_back(p.key, v);
      }
    trials = std::move(next);
  }
  return params.empty() ? std::vector<Trial>{} : trials;
}

std::vector<Trial> random_trials(const std::vector<SweepParam>& params, int64_t n, uint64_t seed) {
  check_unique(params);
  if (n < 1) throw Error("--random: expected a number of trials >= 1, got " + std::to_string(n));
  std::vector<Trial> trials(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    for (size_t j = 0; j < params.size(); ++j) {
      const SweepParam& p = params[j];
      Rng rng(hash_keys({seed, kSweepSalt, static_cast<uint64_t>(t), static_cast<uint64_t>(j)}));
      std::string v;
      switch (p.kind) {
        case SweepParam::Kind::kList:
          v = p.values[rng.below(p.values.size())];
          break;
        case SweepParam::Kind::kUniform:
          v = format_number(p.low + (p.high - p.low) * rng.uniform());
          break;
        case SweepParam::Kind::kLogUniform:
          v = format_number(
              std::exp(std::log(p.low) + (std::log(p.high) - std::log(p.low)) * rng.uniform()));
          break;
        case SweepParam::Kind::kInt:
          v = std::to_string(
              static_cast<int64_t>(p.low) +
              static_cast<int64_t>(rng.below(static_cast<uint64_t>(p.high - p.low) + 1)));
          break;
      }
      trials[static_cast<size_t>(t)].emplace_back(p.key, v);
    }
  }
  return trials;
}

}  // namespace lockstep::launch
