// Optimizer passes (ops/optim.hpp): argument checks, dispatch to
// ops/optim.cu for device tensors, the CPU reference.

#include "core/ops/optim.hpp"

#include <cmath>

#include "core/ops/check.hpp"

namespace lockstep::ops {
namespace {

using detail::check_on;
using detail::check_same;
using detail::dispatch_real;

}  // namespace

void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, double lr, double momentum,
              double weight_decay, bool nesterov) {
  check_on(params, params.device(), "sgd_step", "params");
  check_same(params, grads, "sgd_step");
  check_same(params, velocity, "sgd_step");
  check_on(grads, params.device(), "sgd_step", "grads");
  check_on(velocity, params.device(), "sgd_step", "velocity");
  if (params.device() == Device::kCuda)
    return cuda::sgd_step(params, grads, velocity, lr, momentum, weight_decay, nesterov);
  dispatch_real(params.dtype(), "sgd_step", [&]<class T>() {
    T* w = params.data<T>();
    const T* g = grads.data<T>();
    T* v = velocity.data<T>();
    const T tlr = static_cast<T>(lr), mu = static_cast<T>(momentum),
            wd = static_cast<T>(weight_decay);
    const int64_t n = params.numel();
    for (int64_t i = 0; i < n; ++i) {
      const T gi = g[i] + wd * w[i];
      v[i] = mu * v[i] + gi;
      w[i] -= tlr * (nesterov ? gi + mu * v[i] : v[i]);
    }
  });
}

void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool decoupled, int64_t t) {
  check_on(params, params.device(), "adam_step", "params");
  check_same(params, grads, "adam_step");
  check_same(params, m, "adam_step");
  check_same(params, v, "adam_step");
  check_on(grads, params.device(), "adam_step", "grads");
  check_on(m, params.device(), "adam_step", "m");
  check_on(v, params.device(), "adam_step", "v");
  LOCKSTEP_CHECK(t >= 1, "adam_step: expected a step count >= 1, got " << t);
  if (params.device() == Device::kCuda)
    return cuda::adam_step(params, grads, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, t);
  const double c1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double c2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  dispatch_real(params.dtype(), "adam_step", [&]<class T>() {
    T* w = params.data<T>();
    const T* g = grads.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const int64_t n = params.numel();
    for (int64_t i = 0; i < n; ++i) {
      T gi = g[i];
      if (decoupled) {
        w[i] -= static_cast<T>(lr * weight_decay) * w[i];
      } else {
        gi += static_cast<T>(weight_decay) * w[i];
      }
      pm[i] = static_cast<T>(beta1) * pm[i] + static_cast<T>(1 - beta1) * gi;
      pv[i] = static_cast<T>(beta2) * pv[i] + static_cast<T>(1 - beta2) * gi * gi;
      const double mhat = static_cast<double>(pm[i]) / c1;
      const double vhat = static_cast<double>(pv[i]) / c2;
      w[i] -= static_cast<T>(lr * mhat / (std::sqrt(vhat) + eps));
    }
  });
}

double sum_squares(const Tensor& x) {
  check_on(x, x.device(), "sum_squares", "x");
  if (x.device() == Device::kCuda) return cuda::sum_squares(x);
  double s = 0.0;
  dispatch_real(x.dtype(), "sum_squares", [&]<class T>() {
    const T* p = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i)
      s += static_cast<double>(p[i]) * static_cast<double>(p[i]);
  });
  return s;
}

}  // namespace lockstep::ops
