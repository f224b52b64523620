#include "trainer/eval_metrics.hpp"

#include "trainer/predict.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace lockstep::trainer {

EvalMetrics::EvalMetrics(LossKind kind, int64_t outputs, int64_t top_k)
    : kind_(kind), outputs_(outputs), k_(std::min(top_k, outputs)) {
  LOCKSTEP_CHECK(outputs > 0, "evaluation: expected a positive number of outputs, got " << outputs);
  LOCKSTEP_CHECK(top_k >= 1, "evaluation: --top-k expected >= 1, got " << top_k);
  if (kind_ == LossKind::kCrossEntropy) {
    confusion_.assign(static_cast<size_t>(outputs * outputs), 0);
  } else {
    sum_t_.assign(static_cast<size_t>(outputs), 0.0);
    sum_t2_.assign(static_cast<size_t>(outputs), 0.0);
  }
}

int64_t EvalMetrics::sum_width() const {
  // batch, loss, sse, sae, weight (per pixel), sum_t, sum_t2
  return 5 + 2 * static_cast<int64_t>(sum_t_.size());
}

void EvalMetrics::add(const Tensor& outputs, const Tensor& targets, const Tensor& row_losses,
                      int64_t batch, const Tensor* row_weights) {
  const int64_t n = outputs.dim(0), k = outputs_;
  LOCKSTEP_CHECK((per_pixel_ ? outputs.rank() >= 3 : outputs.rank() == 2) && outputs.dim(1) == k &&
                     outputs.device() == Device::kCpu,
                 "evaluation: expected host outputs (N, " << k << (per_pixel_ ? ", H, W" : "")
                                                          << "), got "
                                                          << shape_str(outputs.shape()));
  LOCKSTEP_CHECK(!per_pixel_ || (row_weights && row_weights->numel() == n),
                 "evaluation: per-pixel figures need the " << n << " per-sample loss weights");
  LOCKSTEP_CHECK(batch >= -1, "evaluation: batch index " << batch << " is invalid");
  if (batch < 0) batch = next_batch_;
  next_batch_ = batch + 1;
  // This batch's record: its index, then its sums (row order within the batch).
  const size_t at = batch_sums_.size();
  batch_sums_.resize(at + static_cast<size_t>(sum_width()), 0.0);
  double* rec = batch_sums_.data() + at;
  rec[0] = static_cast<double>(batch);
  double& loss_sum = rec[1];
  double& sse = rec[2];
  double& sae = rec[3];
  double* sum_t = rec + 5;
  double* sum_t2 = sum_t + sum_t_.size();
  const float* z = outputs.data<float>();
  const double* l = row_losses.data<double>();
  for (int64_t i = 0; i < n; ++i) loss_sum += l[i];
  samples_ += n;
  if (per_pixel_) {
    for (int64_t i = 0; i < n; ++i) rec[4] += row_weights->data<double>()[i];
    add_pixels(outputs, targets);
  } else if (kind_ == LossKind::kCrossEntropy) {
    const int32_t* y = targets.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) {
      const float* row = z + i * k;
      const int64_t pred = std::max_element(row, row + k) - row;  // first maximum on ties
      const int32_t t = y[i];
      ++confusion_[static_cast<size_t>(t * k + pred)];
      // The label is in the top k when fewer than k outputs beat it (ties
      // count for the label, as with the first-maximum rule).
      int64_t better = 0;
      for (int64_t j = 0; j < k; ++j) better += row[j] > row[t] || (row[j] == row[t] && j < t);
      topk_hits_ += better < k_;
    }
  } else {
    const float* t = targets.data<float>();
    for (int64_t i = 0; i < n * k; ++i) {
      const double e = static_cast<double>(z[i]) - t[i];
      sse += e * e;
      sae += std::abs(e);
      sum_t[i % k] += t[i];
      sum_t2[i % k] += static_cast<double>(t[i]) * t[i];
    }
  }
}

void EvalMetrics::reduce(comm::Communicator& comm) {
  std::vector<int64_t> counts{samples_, topk_hits_, pixels_};
  counts.insert(counts.end(), confusion_.begin(), confusion_.end());
  comm.allreduce(std::span<int64_t>(counts), comm::ReduceOp::kSum);
  samples_ = counts[0];
  topk_hits_ = counts[1];
  pixels_ = counts[2];
  std::copy(counts.begin() + 3, counts.end(), confusion_.begin());
  // Every batch's sums in one table (batch, sum), each row filled on the one
  // rank that evaluated the batch and zero elsewhere: the all-reduce adds only
  // zeros to each value, which is exact. Then the batches are added in order.
  std::vector<int64_t> batches{next_batch_};
  comm.allreduce(std::span<int64_t>(batches), comm::ReduceOp::kMax);
  const auto w = static_cast<size_t>(sum_width() - 1);
  std::vector<double> table(static_cast<size_t>(batches[0]) * w, 0.0);
  for (size_t at = 0; at < batch_sums_.size(); at += w + 1) {
    const auto b = static_cast<size_t>(batch_sums_[at]);
    std::copy(batch_sums_.begin() + static_cast<std::ptrdiff_t>(at + 1),
              batch_sums_.begin() + static_cast<std::ptrdiff_t>(at + 1 + w),
              table.begin() + static_cast<std::ptrdiff_t>(b * w));
  }
  comm.allreduce(std::span<double>(table), comm::ReduceOp::kSum);
  const size_t k = sum_t_.size();
  for (size_t row = 0; row < static_cast<size_t>(batches[0]); ++row) {
    const double* rec = table.data() + row * w;
    loss_sum_ += rec[0];
    sse_ += rec[1];
    sae_ += rec[2];
    weight_sum_ += rec[3];
    for (size_t j = 0; j < k; ++j) {
      sum_t_[j] += rec[4 + j];
      sum_t2_[j] += rec[4 + k + j];
    }
  }
  batch_sums_.clear();
}

namespace {
double ratio(double a, double b) {
  return b > 0 ? a / b : 0.0;
}
}  // namespace

double EvalMetrics::loss() const {
  if (per_pixel_) return ratio(loss_sum_, weight_sum_);
  return ratio(loss_sum_, static_cast<double>(samples_));
}

int64_t EvalMetrics::correct() const {
  int64_t hits = 0;
  if (kind_ == LossKind::kCrossEntropy)
    for (int64_t c = 0; c < outputs_; ++c)
      hits += confusion_[static_cast<size_t>(c * outputs_ + c)];
  return hits;
}

double EvalMetrics::accuracy() const {
  return ratio(static_cast<double>(correct()),
               static_cast<double>(per_pixel_ ? pixels_ : samples_));
}

double EvalMetrics::top_k() const {
  return ratio(static_cast<double>(topk_hits_), static_cast<double>(samples_));
}

double EvalMetrics::precision(int64_t c) const {
  int64_t predicted = 0;
  for (int64_t t = 0; t < outputs_; ++t)
    predicted += confusion_[static_cast<size_t>(t * outputs_ + c)];
  return ratio(static_cast<double>(confusion_[static_cast<size_t>(c * outputs_ + c)]),
               static_cast<double>(predicted));
}

double EvalMetrics::recall(int64_t c) const {
  int64_t actual = 0;
  for (int64_t p = 0; p < outputs_; ++p)
    actual += confusion_[static_cast<size_t>(c * outputs_ + p)];
  return ratio(static_cast<double>(confusion_[static_cast<size_t>(c * outputs_ + c)]),
               static_cast<double>(actual));
}

double EvalMetrics::f1(int64_t c) const {
  const double p = precision(c), r = recall(c);
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

double EvalMetrics::mse() const {
  return ratio(sse_, static_cast<double>(samples_ * outputs_));
}

double EvalMetrics::mae() const {
  return ratio(sae_, static_cast<double>(samples_ * outputs_));
}

double EvalMetrics::r2() const {
  double sst = 0;
  for (size_t j = 0; j < sum_t_.size(); ++j)
    sst += sum_t2_[j] - sum_t_[j] * sum_t_[j] / static_cast<double>(samples_);
  return sst > 0 ? 1.0 - sse_ / sst : 0.0;
}

std::string EvalMetrics::report(const std::vector<std::string>& names) const {
  if (per_pixel_) return report_pixels(names);
  std::ostringstream os;
  char line[256];
  if (kind_ != LossKind::kCrossEntropy) {
    std::snprintf(line, sizeof line, "mse %.6f\nmae %.6f\nr2 %.6f\n", mse(), mae(), r2());
    return line;
  }
  std::snprintf(line, sizeof line, "loss %.6f\naccuracy %.4f (%lld/%lld)\ntop-%lld accuracy %.4f\n",
                loss(), accuracy(), static_cast<long long>(correct()),
                static_cast<long long>(samples_), static_cast<long long>(k_), top_k());
  os << line << "\nclass          precision  recall      f1   support\n";
  double macro_f1 = 0;
  for (int64_t c = 0; c < outputs_; ++c) {
    int64_t support = 0;
    for (int64_t p = 0; p < outputs_; ++p)
      support += confusion_[static_cast<size_t>(c * outputs_ + p)];
    const std::string name =
        c < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(c)] : std::to_string(c);
    std::snprintf(line, sizeof line, "%-14.14s %9.4f %7.4f %7.4f %9lld\n", name.c_str(),
                  precision(c), recall(c), f1(c), static_cast<long long>(support));
    os << line;
    macro_f1 += f1(c);
  }
  std::snprintf(line, sizeof line, "macro F1 %.4f\n", macro_f1 / static_cast<double>(outputs_));
  os << line << "\nconfusion matrix (rows: true class, columns: predicted)\n";
  for (int64_t t = 0; t < outputs_; ++t) {
    for (int64_t p = 0; p < outputs_; ++p)
      os << (p ? " " : "") << confusion_[static_cast<size_t>(t * outputs_ + p)];
    os << "\n";
  }
  return os.str();
}

nlohmann::json EvalMetrics::to_json(const std::vector<std::string>& names) const {
  if (per_pixel_) return json_pixels(names);
  if (kind_ != LossKind::kCrossEntropy) {
    return {{"task", "regression"}, {"samples", samples_}, {"loss", loss()},
            {"mse", mse()},         {"mae", mae()},        {"r2", r2()}};
  }
  const bool named = static_cast<int64_t>(names.size()) == outputs_;
  nlohmann::json classes = nlohmann::json::array();
  nlohmann::json confusion = nlohmann::json::array();
  double macro_f1 = 0;
  for (int64_t c = 0; c < outputs_; ++c) {
    int64_t support = 0;
    nlohmann::json row = nlohmann::json::array();
    for (int64_t p = 0; p < outputs_; ++p) {
      support += confusion_[static_cast<size_t>(c * outputs_ + p)];
      row.push_back(confusion_[static_cast<size_t>(c * outputs_ + p)]);
    }
    confusion.push_back(std::move(row));
    classes.push_back({{"id", c},
                       {"name", named ? names[static_cast<size_t>(c)] : std::to_string(c)},
                       {"precision", precision(c)},
                       {"recall", recall(c)},
                       {"f1", f1(c)},
                       {"support", support}});
    macro_f1 += f1(c);
  }
  return {{"task", "classification"},
          {"samples", samples_},
          {"loss", loss()},
          {"accuracy", accuracy()},
          {"correct", correct()},
          {"top_k", {{"k", k_}, {"accuracy", top_k()}}},
          {"macro_f1", macro_f1 / static_cast<double>(outputs_)},
          {"class_names", named ? nlohmann::json(names) : nlohmann::json(nullptr)},
          {"classes", std::move(classes)},
          {"confusion", std::move(confusion)}};
}

EvalMetrics evaluate_metrics(comm::Communicator& comm, Model& model, LossKind kind,
                             const ShardedData& data, int64_t batch_size, int64_t top_k,
                             const LossOptions& loss_options) {
  LOCKSTEP_CHECK(batch_size > 0, "evaluation batch size: expected > 0, got " << batch_size);
  // Batches of the global row order (io/sampler.hpp): the shard must be made
  // of whole batches of this size.
  LOCKSTEP_CHECK(data.options().shard_block == batch_size,
                 "evaluation: the data is sharded in blocks of "
                     << data.options().shard_block << " rows; expected the batch size "
                     << batch_size << " (DataOptions::shard_block)");
  Loss loss(kind, loss_options);
  const bool pixels = loss.per_pixel(model.output_shape());
  EvalMetrics metrics(kind, pixels ? model.output_shape()[0] : shape_numel(model.output_shape()),
                      top_k);
  if (pixels) metrics.set_per_pixel(loss_options.ignore_index);
  Tensor x, y, x_dev, y_dev, out_host;
  std::vector<int64_t> idx;
  const int64_t first_batch = data.first_position() / batch_size;
  for (int64_t begin = 0; begin < data.local_rows(); begin += batch_size) {
    const int64_t end = std::min(data.local_rows(), begin + batch_size);
    idx.resize(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) idx[static_cast<size_t>(i - begin)] = i;
    data.fill(idx, x, y);
    const bool gpu = model.device() != Device::kCpu;
    if (gpu) {
      ensure_shape(y_dev, y.shape(), y.dtype(), model.device());
      y_dev.copy_from(y);
    }
    const Tensor out = forward_eval(model, x, x_dev);  // the path prediction uses too
    loss.compute(out, gpu ? y_dev : y, end - begin, nullptr);
    ensure_shape(out_host, out.shape(), DType::kF32, Device::kCpu);
    out_host.copy_from(out);
    metrics.add(out_host, y, loss.row_losses(), first_batch + begin / batch_size,
                pixels ? &loss.row_weights() : nullptr);
  }
  metrics.reduce(comm);
  return metrics;
}

}  // namespace lockstep::trainer
