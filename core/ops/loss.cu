// CUDA loss ops (ops/loss.hpp); ops/loss.cpp is the reference.

#include <cmath>

#include "core/ops/kernels.cuh"
#include "core/ops/loss.hpp"

namespace lockstep::ops::cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)

namespace {

// One thread per row (grid-stride, so any N fits the capped grid); K is
// small for classifiers, and double accumulation keeps the result within
// rounding of the CPU reference.
__global__ void softmax_xent_kernel(const float* z, const int32_t* labels, int64_t n, int64_t k,
                                    double grad_scale, double* loss, int32_t* correct, float* dz) {
  LOCKSTEP_GRID_LOOP(r, n) {
    const float* row = z + r * k;
    const int32_t label = labels[r];
    if (label < 0 || label >= k) {  // reported from the loss totals (correct = -1)
      loss[r] = 0.0;
      correct[r] = -1;
      if (dz)
        for (int64_t j = 0; j < k; ++j) dz[r * k + j] = 0.f;
      continue;
    }
    int64_t arg = 0;
    for (int64_t j = 1; j < k; ++j)
      if (row[j] > row[arg]) arg = j;
    const double zmax = row[arg];
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) sum += exp(static_cast<double>(row[j]) - zmax);
    const double log_sum = log(sum);
    loss[r] = log_sum + zmax - static_cast<double>(row[label]);
    correct[r] = arg == label ? 1 : 0;
    if (dz) {
      for (int64_t j = 0; j < k; ++j) {
        const double prob = exp(static_cast<double>(row[j]) - zmax - log_sum);
        dz[r * k + j] = static_cast<float>(grad_scale * (prob - (j == label ? 1.0 : 0.0)));
      }
    }
  }
}

__global__ void mse_kernel(const float* out, const float* t, int64_t n, int64_t k,
                           double grad_scale, double* loss, float* dout) {
  LOCKSTEP_GRID_LOOP(r, n) {
    double s = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      const double e = static_cast<double>(out[r * k + j]) - static_cast<double>(t[r * k + j]);
      s += e * e;
      if (dout) dout[r * k + j] = static_cast<float>(grad_scale * 2.0 * e / static_cast<double>(k));
    }
    loss[r] = s / static_cast<double>(k);
  }
}

// One block: thread t sums rows t, t + T, ... and thread 0 adds the partials
// in thread order, so the totals are the same on every run (no atomics).
constexpr int kTotalThreads = 256;
__global__ void loss_totals_kernel(const double* loss, const int32_t* correct, int64_t n,
                                   double loss_scale, int64_t row_offset, double* totals) {
  __shared__ double loss_part[kTotalThreads];
  __shared__ double hits_part[kTotalThreads];
  __shared__ int64_t bad_part[kTotalThreads];
  double l = 0.0, h = 0.0;
  int64_t bad = -1;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    l += loss[i];
    if (correct[i] < 0) {
      if (bad < 0) bad = i;
    } else {
      h += correct[i];
    }
  }
  loss_part[threadIdx.x] = l;
  hits_part[threadIdx.x] = h;
  bad_part[threadIdx.x] = bad;
  __syncthreads();
  if (threadIdx.x != 0) return;
  double lsum = 0.0, hsum = 0.0;
  int64_t first_bad = -1;
  for (int t = 0; t < kTotalThreads; ++t) {
    lsum += loss_part[t];
    hsum += hits_part[t];
    if (bad_part[t] >= 0 && (first_bad < 0 || bad_part[t] < first_bad)) first_bad = bad_part[t];
  }
  totals[kTotalLoss] += lsum * loss_scale;
  totals[kTotalCorrect] += hsum;
  if (first_bad >= 0 && totals[kTotalBadRow] == 0.0)
    totals[kTotalBadRow] = static_cast<double>(1 + row_offset + first_bad);
}

}  // namespace

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double grad_scale,
                           Tensor& loss, Tensor& correct, Tensor* dlogits) {
  require_f32(logits, "softmax_cross_entropy");
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (n == 0) return;
  // A class id outside [0, K) cannot throw from a kernel without a host sync:
  // its row gets correct = -1, which loss_totals records and the host
  // reports when it reads the totals (Loss::compute at once; a training
  // step a step later).
  softmax_xent_kernel<<<blocks_for(n, 128), 128, 0, current_stream()>>>(
      cf(logits), labels.data<int32_t>(), n, k, grad_scale, loss.data<double>(),
      correct.data<int32_t>(), dlogits ? f(*dlogits) : nullptr);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void mse(const Tensor& out, const Tensor& targets, double grad_scale, Tensor& loss, Tensor* dout) {
  require_f32(out, "mse");
  const int64_t n = out.dim(0), k = out.dim(1);
  if (n == 0) return;
  mse_kernel<<<blocks_for(n, 128), 128, 0, current_stream()>>>(
      cf(out), cf(targets), n, k, grad_scale, loss.data<double>(), dout ? f(*dout) : nullptr);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void loss_totals(const Tensor& loss, const Tensor& correct, double loss_scale, int64_t row_offset,
                 Tensor& totals) {
  const int64_t n = loss.numel();
  loss_totals_kernel<<<1, kTotalThreads, 0, current_stream()>>>(
      loss.data<double>(), correct.data<int32_t>(), n, loss_scale, row_offset,
      totals.data<double>());
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

}  // namespace lockstep::ops::cuda
