#include "trainer/early_stop.hpp"

#include <cmath>
#include <cstdio>

namespace lockstep::trainer {

std::vector<std::pair<std::string, double>> validation_figures(const EvalMetrics& m,
                                                               LossKind kind) {
  if (kind == LossKind::kCrossEntropy)
    return {{"val_loss", m.loss()}, {"val_accuracy", m.accuracy()}};
  return {{"val_loss", m.loss()}, {"val_mse", m.mse()}, {"val_mae", m.mae()}, {"val_r2", m.r2()}};
}

std::vector<std::string> validation_metric_names(LossKind kind) {
  if (kind == LossKind::kCrossEntropy) return {"val_loss", "val_accuracy"};
  return {"val_loss", "val_mse", "val_mae", "val_r2"};
}

bool metric_maximized(const std::string& metric) {
  const auto ends_with = [&](const char* s) {
    const std::string suffix(s);
    return metric.size() >= suffix.size() &&
           metric.compare(metric.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("accuracy") || ends_with("r2");
}

bool EarlyStopping::update(int64_t epoch, double value) {
  const bool better = std::isfinite(value) &&
                      (!best_ || (options_.maximize ? value > best_->value + options_.min_delta
                                                    : value < best_->value - options_.min_delta));
  if (better) {
    best_ = io::BestRecord{options_.metric, value, epoch, 0};
  } else if (best_) {
    ++best_->bad_epochs;
  }
  return better;
}

bool EarlyStopping::should_stop() const {
  return options_.stop && best_ && best_->bad_epochs > 0 && best_->bad_epochs >= options_.patience;
}

bool EarlyStopping::restore(const io::BestRecord& state) {
  if (state.metric != options_.metric) return false;
  best_ = state;
  return true;
}

ValidationTracker::ValidationTracker(comm::Communicator& comm, EarlyStopOptions options,
                                     LossKind kind, SaveBest save_best, MetricsFile* metrics)
    : comm_(comm),
      stopping_(std::move(options)),
      kind_(kind),
      save_best_(std::move(save_best)),
      metrics_(metrics) {}

bool ValidationTracker::after_epoch(int64_t epoch, int64_t step, const EvalMetrics& val) {
  const std::string& metric = stopping_.options().metric;
  double value = NAN;
  for (const auto& [name, v] : validation_figures(val, kind_))
    if (name == metric) value = v;
  if (stopping_.update(epoch, value)) {
    const io::BestRecord best = *stopping_.state();
    std::optional<std::string> error;
    if (comm_.rank() == 0) {
      try {
        save_best_(best);
        if (metrics_)
          metrics_->write({{"type", "best"},
                           {"epoch", epoch},
                           {"step", step},
                           {"metric", metric},
                           {"value", value}});
      } catch (const std::exception& e) {
        error = std::string("best model: ") + e.what();
      }
    }
    comm::agree_or_throw(comm_, error);
  }
  if (!stopping_.should_stop()) return false;
  if (comm_.rank() == 0) {
    const io::BestRecord b = *stopping_.state();
    std::printf(
        "early stopping after epoch %lld: %s did not improve for %lld epoch(s); best %s %.6g "
        "at epoch %lld (best.h5)\n",
        static_cast<long long>(epoch), metric.c_str(), static_cast<long long>(b.bad_epochs),
        metric.c_str(), b.value, static_cast<long long>(b.epoch));
    std::fflush(stdout);
  }
  return true;
}

}  // namespace lockstep::trainer
