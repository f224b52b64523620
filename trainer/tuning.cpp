#include "trainer/tuning.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "trainer/early_stop.hpp"

namespace lockstep::trainer {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::pair<std::string, double>> epoch_figures(const EpochRecord& r, LossKind kind) {
  const bool classify = kind == LossKind::kCrossEntropy;
  std::vector<std::pair<std::string, double>> out{{"train_loss", r.train.loss}};
  if (classify) out.emplace_back("train_accuracy", r.train.accuracy);
  if (r.test) {
    out.emplace_back("test_loss", r.test->loss);
    if (classify) out.emplace_back("test_accuracy", r.test->accuracy);
  }
  if (r.val)
    for (auto& f : validation_figures(*r.val, kind)) out.push_back(std::move(f));
  return out;
}

std::vector<std::string> epoch_figure_names(LossKind kind, bool test, bool val) {
  const bool classify = kind == LossKind::kCrossEntropy;
  std::vector<std::string> out{"train_loss"};
  if (classify) out.emplace_back("train_accuracy");
  if (test) {
    out.emplace_back("test_loss");
    if (classify) out.emplace_back("test_accuracy");
  }
  if (val)
    for (auto& n : validation_metric_names(kind)) out.push_back(std::move(n));
  return out;
}

std::vector<std::string> figure_names(const RunConfig& config) {
  return epoch_figure_names(config.loss, !config.test_path.empty(), config.has_validation());
}

MetricBest best_epoch(const std::vector<EpochRecord>& records, LossKind kind,
                      const std::string& metric, bool maximize) {
  MetricBest best{kNaN, 0};
  for (const EpochRecord& r : records)
    for (const auto& [name, value] : epoch_figures(r, kind)) {
      if (name != metric || !std::isfinite(value)) continue;
      if (best.epoch == 0 || (maximize ? value > best.value : value < best.value))
        best = {value, r.epoch + 1};
    }
  return best;
}

MeanStd mean_std(const std::vector<double>& values) {
  double sum = 0.0;
  int64_t n = 0;
  for (double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++n;
    }
  if (n == 0) return {kNaN, kNaN, 0};
  const double mean = sum / static_cast<double>(n);
  if (n < 2) return {mean, kNaN, n};
  double ss = 0.0;
  for (double v : values)
    if (std::isfinite(v)) ss += (v - mean) * (v - mean);
  return {mean, std::sqrt(ss / static_cast<double>(n - 1)), n};
}

MetricChoice choose_metric(const std::string& metric, const std::string& mode,
                           const RunConfig& config) {
  MetricChoice m;
  m.metric = !metric.empty()               ? metric
             : config.has_validation()     ? "val_loss"
             : !config.test_path.empty()   ? "test_loss"
                                           : "train_loss";
  const std::vector<std::string> names = figure_names(config);
  if (std::find(names.begin(), names.end(), m.metric) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw Error("--metric: expected one of the figures of these runs (" + list + "), got '" +
                m.metric + "' (val_* need validation data, test_* data.test)");
  }
  if (mode != "auto" && mode != "min" && mode != "max")
    throw Error("--mode: expected auto, min or max, got '" + mode + "'");
  m.maximize = mode == "auto" ? metric_maximized(m.metric) : mode == "max";
  return m;
}

const char* to_string(RunStatus s) {
  switch (s) {
    case RunStatus::kOk:
      return "ok";
    case RunStatus::kStopped:
      return "stopped";
    case RunStatus::kFailed:
      return "failed";
  }
  return "?";
}

RunResult run_one(const RunConfig& config, const std::string& config_ini, comm::MpiSession& mpi,
                  const MetricChoice& metric, const RunHooks& hooks) {
  RunResult r;
  try {
    r.outcome = run_training(config, config_ini, mpi, hooks);
    r.exit_code = r.outcome.exit_code;
    r.status = r.exit_code == kExitStopped ? RunStatus::kStopped : RunStatus::kOk;
    r.best = best_epoch(r.outcome.records, config.loss, metric.metric, metric.maximize);
  } catch (const comm::CollectiveError& e) {
    r.exit_code = e.exit_code();
    r.status = RunStatus::kFailed;
    r.error = e.what();
  }
  return r;
}

std::string cell(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch == '\n' ? ' ' : ch);
  return q + "\"";
}

}  // namespace

void ResultsTable::write_csv(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    const auto line = [&](const std::vector<std::string>& row) {
      for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_field(row[i]);
      out << "\n";
    };
    line(header_);
    for (const auto& row : rows_) line(row);
    out.flush();
    if (!out) throw Error("results file '" + tmp + "': write failed");
  }
  std::filesystem::rename(tmp, path);
}

std::string ResultsTable::text(const std::vector<std::string>& columns) const {
  std::vector<size_t> index;
  for (const std::string& c : columns) {
    const auto it = std::find(header_.begin(), header_.end(), c);
    if (it != header_.end()) index.push_back(static_cast<size_t>(it - header_.begin()));
  }
  std::vector<size_t> width(index.size());
  for (size_t j = 0; j < index.size(); ++j) {
    width[j] = header_[index[j]].size();
    for (const auto& row : rows_) width[j] = std::max(width[j], row[index[j]].size());
  }
  std::ostringstream os;
  const auto line = [&](const std::vector<std::string>& row) {
    for (size_t j = 0; j < index.size(); ++j) {
      const std::string& s = row[index[j]];
      os << (j ? "  " : "") << s << std::string(width[j] - s.size(), ' ');
    }
    os << "\n";
  };
  line(header_);
  for (const auto& row : rows_) line(row);
  return os.str();
}

}  // namespace lockstep::trainer
