// CUDA per-pixel cross-entropy (ops/pixel_loss.hpp); ops/pixel_loss.cpp is the
// reference. One thread per pixel writes its loss, weight and hit into the
// workspace; then one thread per sample adds its pixels in order.

#include <cmath>

#include "core/ops/kernels.cuh"
#include "core/ops/pixel_loss.hpp"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

namespace {

// px: (3, N*P) doubles: loss, weight, hit (-1: a class id out of range).
__global__ void pixel_kernel(const float* z, const int32_t* labels, const double* weights,
                             int64_t n, int64_t c, int64_t p, int64_t ignore, double grad_scale,
                             double* px, float* dz) {
  LOCKSTEP_GRID_LOOP(idx, n * p) {
    const int64_t s = idx / p, q = idx % p;
    const float* row = z + s * c * p + q;
    float* d = dz ? dz + s * c * p + q : nullptr;
    const int32_t label = labels[idx];
    const bool bad = label != ignore && (label < 0 || label >= c);
    if (label == ignore || bad) {
      px[idx] = 0.0;
      px[n * p + idx] = 0.0;
      px[2 * n * p + idx] = bad ? -1.0 : 0.0;
      if (d)
        for (int64_t j = 0; j < c; ++j) d[j * p] = 0.f;
      continue;
    }
    const double w = weights ? weights[label] : 1.0;
    int64_t arg = 0;
    for (int64_t j = 1; j < c; ++j)
      if (row[j * p] > row[arg * p]) arg = j;
    const double zmax = row[arg * p];
    double sum = 0.0;
    for (int64_t j = 0; j < c; ++j) sum += exp(static_cast<double>(row[j * p]) - zmax);
    const double log_sum = log(sum);
    px[idx] = w * (log_sum + zmax - static_cast<double>(row[label * p]));
    px[n * p + idx] = w;
    px[2 * n * p + idx] = arg == label ? 1.0 : 0.0;
    if (d)
      for (int64_t j = 0; j < c; ++j) {
        const double prob = exp(static_cast<double>(row[j * p]) - zmax - log_sum);
        d[j * p] = static_cast<float>(grad_scale * w * (prob - (j == label ? 1.0 : 0.0)));
      }
  }
}

__global__ void sample_sums_kernel(const double* px, int64_t n, int64_t p, double* loss,
                                   double* weight, int32_t* correct) {
  LOCKSTEP_GRID_LOOP(s, n) {
    double l = 0.0, w = 0.0;
    int32_t hits = 0;
    bool bad = false;
    for (int64_t q = s * p; q < (s + 1) * p; ++q) {
      l += px[q];
      w += px[n * p + q];
      const double h = px[2 * n * p + q];
      bad = bad || h < 0;
      hits += h > 0 ? 1 : 0;
    }
    loss[s] = l;
    weight[s] = w;
    correct[s] = bad ? -1 : hits;
  }
}

}  // namespace

void pixel_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& class_weights,
                         int64_t ignore_index, double grad_scale, Tensor& loss, Tensor& weight,
                         Tensor& correct, Tensor* dlogits, Tensor& workspace) {
  require_f32(logits, "pixel_cross_entropy");
  const int64_t n = logits.dim(0), c = logits.dim(1), p = logits.numel() / (n * c);
  if (!workspace.defined() || workspace.numel() < 3 * n * p || workspace.dtype() != DType::kF64 ||
      workspace.device() != Device::kCuda)
    workspace = Tensor::empty({3 * n * p}, DType::kF64, Device::kCuda);
  pixel_kernel<<<blocks_for(n * p, kThreads), kThreads, 0, current_stream()>>>(
      cf(logits), labels.data<int32_t>(),
      class_weights.defined() ? class_weights.data<double>() : nullptr, n, c, p, ignore_index,
      grad_scale, workspace.data<double>(), dlogits ? f(*dlogits) : nullptr);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
  sample_sums_kernel<<<blocks_for(n, 128), 128, 0, current_stream()>>>(
      workspace.data<double>(), n, p, loss.data<double>(), weight.data<double>(),
      correct.data<int32_t>());
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

}  // namespace lockstep::ops::cuda
