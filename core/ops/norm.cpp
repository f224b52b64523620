// Batch-normalisation ops: checks, device dispatch, CPU reference (float32 and
// float64, accumulating in double).

#include <cmath>

#include "core/ops/norm.hpp"

namespace lockstep::ops {
namespace {

void check_real(const Tensor& t, const char* op, const char* arg) {
  LOCKSTEP_CHECK(t.defined(), op << ": argument '" << arg << "' is undefined");
  LOCKSTEP_CHECK(
      t.dtype() == DType::kF32 || t.dtype() == DType::kF64,
      op << ": argument '" << arg << "' must be float32 or float64, got " << to_string(t.dtype()));
}

void check_like(const Tensor& t, const Tensor& ref, int64_t numel, const char* op,
                const char* arg) {
  check_real(t, op, arg);
  LOCKSTEP_CHECK(t.dtype() == ref.dtype() && t.device() == ref.device() && t.numel() == numel,
                 op << ": argument '" << arg << "' expected " << numel << " "
                    << to_string(ref.dtype()) << " elements on " << to_string(ref.device())
                    << ", got " << t.numel() << " " << to_string(t.dtype()) << " on "
                    << to_string(t.device()));
}

// (N, C, S) view of an activation with `channels` channels.
struct Nc {
  int64_t n, c, s;
};
Nc layout_of(const Tensor& x, int64_t channels, const char* op) {
  LOCKSTEP_CHECK(x.rank() >= 2 && x.dim(1) == channels, op << ": expected an activation (N, "
                                                           << channels << ", ...), got "
                                                           << shape_str(x.shape()));
  const int64_t n = x.dim(0);
  return {n, channels, n * channels == 0 ? 0 : x.numel() / (n * channels)};
}

template <class F>
void real(DType t, F&& f) {
  if (t == DType::kF32) {
    f.template operator()<float>();
  } else {
    f.template operator()<double>();
  }
}

}  // namespace

void channel_moments(const Tensor& a, const Tensor& b, int64_t channels, Tensor& sums) {
  check_real(a, "channel_moments", "a");
  const Nc d = layout_of(a, channels, "channel_moments");
  if (b.defined()) check_like(b, a, a.numel(), "channel_moments", "b");
  check_like(sums, a, 2 * channels, "channel_moments", "sums");
  if (a.device() == Device::kCuda) return cuda::channel_moments(a, b, channels, sums);
  real(a.dtype(), [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.defined() ? b.data<T>() : pa;
    T* out = sums.data<T>();
    for (int64_t c = 0; c < d.c; ++c) {
      double s0 = 0, s1 = 0;
      for (int64_t n = 0; n < d.n; ++n) {
        const int64_t base = (n * d.c + c) * d.s;
        for (int64_t k = 0; k < d.s; ++k) {
          s0 += pa[base + k];
          s1 += static_cast<double>(pa[base + k]) * static_cast<double>(pb[base + k]);
        }
      }
      out[c] = static_cast<T>(s0);
      out[d.c + c] = static_cast<T>(s1);
    }
  });
}

void batchnorm_statistics(const Tensor& sums, double count, double eps, double momentum,
                          bool use_running, Tensor& running_mean, Tensor& running_var, Tensor& mean,
                          Tensor& inv_std) {
  check_real(sums, "batchnorm_statistics", "sums");
  const int64_t c = sums.numel() / 2;
  check_like(running_mean, sums, c, "batchnorm_statistics", "running_mean");
  check_like(running_var, sums, c, "batchnorm_statistics", "running_var");
  check_like(mean, sums, c, "batchnorm_statistics", "mean");
  check_like(inv_std, sums, c, "batchnorm_statistics", "inv_std");
  LOCKSTEP_CHECK(use_running || count > 1,
                 "batchnorm: expected more than one value per channel in training, got "
                     << count << " (batch size 1 on a dense output?)");
  if (sums.device() == Device::kCuda)
    return cuda::batchnorm_statistics(sums, count, eps, momentum, use_running, running_mean,
                                      running_var, mean, inv_std);
  real(sums.dtype(), [&]<class T>() {
    const T* s = sums.data<T>();
    T* rm = running_mean.data<T>();
    T* rv = running_var.data<T>();
    T* m = mean.data<T>();
    T* is = inv_std.data<T>();
    for (int64_t k = 0; k < c; ++k) {
      if (use_running) {
        m[k] = rm[k];
        is[k] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(rv[k]) + eps));
        continue;
      }
      const double mu = static_cast<double>(s[k]) / count;
      const double var = std::max(0.0, static_cast<double>(s[c + k]) / count - mu * mu);
      m[k] = static_cast<T>(mu);
      is[k] = static_cast<T>(1.0 / std::sqrt(var + eps));
      rm[k] = static_cast<T>((1 - momentum) * rm[k] + momentum * mu);
      rv[k] = static_cast<T>((1 - momentum) * rv[k] + momentum * var * count / (count - 1));
    }
  });
}

void batchnorm_apply(const Tensor& x, const Tensor& mean, const Tensor& inv_std,
                     const Tensor& gamma, const Tensor& beta, Tensor& xhat, Tensor& y) {
  check_real(x, "batchnorm_apply", "x");
  const int64_t channels = mean.numel();
  const Nc d = layout_of(x, channels, "batchnorm_apply");
  for (const Tensor* t : {&inv_std, &gamma, &beta})
    check_like(*t, x, channels, "batchnorm_apply", "per-channel");
  check_like(xhat, x, x.numel(), "batchnorm_apply", "xhat");
  check_like(y, x, x.numel(), "batchnorm_apply", "y");
  if (x.device() == Device::kCuda)
    return cuda::batchnorm_apply(x, mean, inv_std, gamma, beta, xhat, y);
  real(x.dtype(), [&]<class T>() {
    const T *px = x.data<T>(), *m = mean.data<T>(), *is = inv_std.data<T>();
    const T *g = gamma.data<T>(), *b = beta.data<T>();
    T *ph = xhat.data<T>(), *py = y.data<T>();
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t c = 0; c < d.c; ++c) {
        const int64_t base = (n * d.c + c) * d.s;
        for (int64_t k = 0; k < d.s; ++k) {
          const T h = (px[base + k] - m[c]) * is[c];
          ph[base + k] = h;
          py[base + k] = g[c] * h + b[c];
        }
      }
  });
}

void batchnorm_param_grads(const Tensor& sums, Tensor& acc_dgamma, Tensor& acc_dbeta) {
  check_real(sums, "batchnorm_param_grads", "sums");
  const int64_t c = sums.numel() / 2;
  check_like(acc_dgamma, sums, c, "batchnorm_param_grads", "acc_dgamma");
  check_like(acc_dbeta, sums, c, "batchnorm_param_grads", "acc_dbeta");
  if (sums.device() == Device::kCuda)
    return cuda::batchnorm_param_grads(sums, acc_dgamma, acc_dbeta);
  real(sums.dtype(), [&]<class T>() {
    const T* s = sums.data<T>();
    T *dg = acc_dgamma.data<T>(), *db = acc_dbeta.data<T>();
    for (int64_t k = 0; k < c; ++k) {
      db[k] += s[k];
      dg[k] += s[c + k];
    }
  });
}

void batchnorm_input_grad(const Tensor& dy, const Tensor& xhat, const Tensor& gamma,
                          const Tensor& inv_std, const Tensor& sums, double count, Tensor& dx) {
  check_real(dy, "batchnorm_input_grad", "dy");
  const int64_t channels = gamma.numel();
  const Nc d = layout_of(dy, channels, "batchnorm_input_grad");
  check_like(xhat, dy, dy.numel(), "batchnorm_input_grad", "xhat");
  check_like(dx, dy, dy.numel(), "batchnorm_input_grad", "dx");
  check_like(inv_std, dy, channels, "batchnorm_input_grad", "inv_std");
  check_like(sums, dy, 2 * channels, "batchnorm_input_grad", "sums");
  if (dy.device() == Device::kCuda)
    return cuda::batchnorm_input_grad(dy, xhat, gamma, inv_std, sums, count, dx);
  real(dy.dtype(), [&]<class T>() {
    const T *pd = dy.data<T>(), *ph = xhat.data<T>(), *g = gamma.data<T>();
    const T *is = inv_std.data<T>(), *s = sums.data<T>();
    T* px = dx.data<T>();
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t c = 0; c < d.c; ++c) {
        const double mean_dy = static_cast<double>(s[c]) / count;
        const double mean_dyh = static_cast<double>(s[d.c + c]) / count;
        const double scale = static_cast<double>(g[c]) * static_cast<double>(is[c]);
        const int64_t base = (n * d.c + c) * d.s;
        for (int64_t k = 0; k < d.s; ++k)
          px[base + k] = static_cast<T>(scale * (pd[base + k] - mean_dy - ph[base + k] * mean_dyh));
      }
  });
}

}  // namespace lockstep::ops
