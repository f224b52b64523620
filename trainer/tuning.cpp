#include "trainer/tuning.hpp"

#include <cmath>
#include <limits>

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

}  // namespace lockstep::trainer
