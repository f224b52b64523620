#pragma once
// The input normalisation of a dataset's features, in one place: checked
// against the sample shape once, then applied row by row, the same formula
// and float rounding wherever features are read (Shard::gather_features, the
// input pipeline). x' = x * a[c] + b[c] with a = scale / std and
// b = -mean / std, per channel c (the first dimension of the sample shape).

#include <cmath>
#include <cstdint>
#include <vector>

#include "io/dataset.hpp"
#include "io/hdf5.hpp"

namespace lockstep::io {

class Normaliser {
 public:
  /// Checks `norm` against the sample shape (one mean and std, or one per
  /// channel; every std finite and non-zero).
  Normaliser(const DatasetInfo& info, const Normalization& norm) {
    const int64_t channels = info.sample_shape.empty() ? 1 : info.sample_shape[0];
    const auto check = [&](const std::vector<double>& v, const char* what) {
      LOCKSTEP_CHECK(v.size() == 1 || static_cast<int64_t>(v.size()) == channels,
                     "normalisation: " << what << " has " << v.size() << " values; expected 1 or "
                                       << channels << " (one per channel of the sample shape "
                                       << h5::shape_string(info.sample_shape) << ")");
    };
    check(norm.mean, "mean");
    check(norm.std, "std");
    for (double s : norm.std) {
      LOCKSTEP_CHECK(std::isfinite(s) && s != 0.0,
                     "normalisation: std " << s << " is invalid; expected a finite non-zero value");
    }
    const double scale =
        norm.scale >= 0 ? norm.scale : (info.feature_type == FeatureType::kUint8 ? 1.0 / 255 : 1.0);
    for (size_t c = 0; c < static_cast<size_t>(channels); ++c) {
      const double mean = norm.mean.size() == 1 ? norm.mean[0] : norm.mean[c];
      const double sd = norm.std.size() == 1 ? norm.std[0] : norm.std[c];
      a_.push_back(static_cast<float>(scale / sd));
      b_.push_back(static_cast<float>(-mean / sd));
    }
    per_channel_ = info.sample_size() / channels;
  }

  /// One row of `info.sample_size()` values from `src` into `dst`, normalised.
  template <class T>
  void apply(const T* src, float* dst) const {
    for (size_t c = 0; c < a_.size(); ++c) {
      const float ac = a_[c];
      const float bc = b_[c];
      for (int64_t j = 0; j < per_channel_; ++j) *dst++ = static_cast<float>(*src++) * ac + bc;
    }
  }

 private:
  std::vector<float> a_;
  std::vector<float> b_;
  int64_t per_channel_ = 1;
};

}  // namespace lockstep::io
