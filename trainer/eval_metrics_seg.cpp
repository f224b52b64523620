// Segmentation figures of EvalMetrics (eval_metrics.hpp): the pixel confusion
// matrix, pixel accuracy, per-class and mean IoU, and their report and JSON.

#include <cstdio>
#include <sstream>

#include "trainer/eval_metrics.hpp"

namespace lockstep::trainer {

void EvalMetrics::set_per_pixel(std::optional<int64_t> ignore_index) {
  LOCKSTEP_CHECK(kind_ == LossKind::kCrossEntropy && samples_ == 0,
                 "evaluation: per-pixel figures need cross-entropy and no batch added yet");
  per_pixel_ = true;
  ignore_ = ignore_index;
}

void EvalMetrics::add_pixels(const Tensor& outputs, const Tensor& targets) {
  const int64_t n = outputs.dim(0), k = outputs_, p = outputs.numel() / (n * k);
  LOCKSTEP_CHECK(targets.dtype() == DType::kI32 && targets.numel() == n * p,
                 "evaluation: expected " << n << "x" << p << " int32 pixel labels for outputs "
                                         << shape_str(outputs.shape()) << ", got "
                                         << shape_str(targets.shape()));
  const float* z = outputs.data<float>();
  const int32_t* y = targets.data<int32_t>();
  for (int64_t s = 0; s < n; ++s)
    for (int64_t q = 0; q < p; ++q) {
      const int32_t t = y[s * p + q];
      if (ignore_ && t == *ignore_) continue;
      LOCKSTEP_CHECK(t >= 0 && t < k, "evaluation: class id " << t << " at pixel " << q
                                                              << " of a batch sample is outside "
                                                              << "the model's " << k << " classes");
      const float* at = z + s * k * p + q;  // class j at at[j * p]
      int64_t pred = 0;                     // the first maximum on ties
      for (int64_t j = 1; j < k; ++j)
        if (at[j * p] > at[pred * p]) pred = j;
      ++confusion_[static_cast<size_t>(t * k + pred)];
      ++pixels_;
    }
}

double EvalMetrics::iou(int64_t c) const {
  int64_t row = 0, col = 0;
  for (int64_t j = 0; j < outputs_; ++j) {
    row += confusion_[static_cast<size_t>(c * outputs_ + j)];
    col += confusion_[static_cast<size_t>(j * outputs_ + c)];
  }
  const int64_t tp = confusion_[static_cast<size_t>(c * outputs_ + c)];
  const int64_t uni = row + col - tp;
  return uni > 0 ? static_cast<double>(tp) / static_cast<double>(uni) : 0.0;
}

double EvalMetrics::mean_iou() const {
  double sum = 0;
  int64_t present = 0;
  for (int64_t c = 0; c < outputs_; ++c) {
    int64_t uni = 0;
    for (int64_t j = 0; j < outputs_; ++j)
      uni += confusion_[static_cast<size_t>(c * outputs_ + j)] +
             confusion_[static_cast<size_t>(j * outputs_ + c)];
    if (uni == 0) continue;  // occurs nowhere: no IoU
    sum += iou(c);
    ++present;
  }
  return present ? sum / static_cast<double>(present) : 0.0;
}

namespace {

int64_t support_of(const std::vector<int64_t>& confusion, int64_t k, int64_t c) {
  int64_t s = 0;
  for (int64_t j = 0; j < k; ++j) s += confusion[static_cast<size_t>(c * k + j)];
  return s;
}

}  // namespace

std::string EvalMetrics::report_pixels(const std::vector<std::string>& names) const {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line,
                "loss %.6f\npixel accuracy %.4f (%lld/%lld pixels, %lld samples)\nmean IoU %.4f\n",
                loss(), accuracy(), static_cast<long long>(correct()),
                static_cast<long long>(pixels_), static_cast<long long>(samples_), mean_iou());
  os << line << "\nclass                IoU   support\n";
  for (int64_t c = 0; c < outputs_; ++c) {
    const std::string name =
        c < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(c)] : std::to_string(c);
    std::snprintf(line, sizeof line, "%-14.14s %9.4f %9lld\n", name.c_str(), iou(c),
                  static_cast<long long>(support_of(confusion_, outputs_, c)));
    os << line;
  }
  os << "\nconfusion matrix in pixels (rows: true class, columns: predicted)\n";
  for (int64_t t = 0; t < outputs_; ++t) {
    for (int64_t p = 0; p < outputs_; ++p)
      os << (p ? " " : "") << confusion_[static_cast<size_t>(t * outputs_ + p)];
    os << "\n";
  }
  return os.str();
}

nlohmann::json EvalMetrics::json_pixels(const std::vector<std::string>& names) const {
  const bool named = static_cast<int64_t>(names.size()) == outputs_;
  nlohmann::json classes = nlohmann::json::array(), confusion = nlohmann::json::array();
  for (int64_t c = 0; c < outputs_; ++c) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t p = 0; p < outputs_; ++p)
      row.push_back(confusion_[static_cast<size_t>(c * outputs_ + p)]);
    confusion.push_back(std::move(row));
    classes.push_back({{"id", c},
                       {"name", named ? names[static_cast<size_t>(c)] : std::to_string(c)},
                       {"iou", iou(c)},
                       {"support", support_of(confusion_, outputs_, c)}});
  }
  return {{"task", "segmentation"},
          {"samples", samples_},
          {"pixels", pixels_},
          {"loss", loss()},
          {"pixel_accuracy", accuracy()},
          {"correct_pixels", correct()},
          {"mean_iou", mean_iou()},
          {"ignore_index", ignore_ ? nlohmann::json(*ignore_) : nlohmann::json(nullptr)},
          {"class_names", named ? nlohmann::json(names) : nlohmann::json(nullptr)},
          {"classes", std::move(classes)},
          {"confusion", std::move(confusion)}};
}

}  // namespace lockstep::trainer
