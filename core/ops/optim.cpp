// Optimizer passes (ops/optim.hpp): argument checks, dispatch to
// ops/optim.cu for device tensors, the CPU reference.

#include "core/ops/optim.hpp"

#include <cmath>
#include <limits>

#include "core/ops/check.hpp"
#include "core/ops/step_rule.hpp"

namespace lockstep::ops {
namespace {

using detail::check_on;
using detail::check_same;
using detail::dispatch_real;

void check_control(const Tensor& control, Device device, const char* op) {
  LOCKSTEP_CHECK(control.dtype() == DType::kF64 && control.numel() == kStepSlots,
                 op << ": expected a step control block of " << kStepSlots << " float64, got "
                    << shape_str(control.shape()) << " " << to_string(control.dtype()));
  check_on(control, device, op, "control");
}

}  // namespace

void prepare_step(const Tensor& sum_squares, Tensor& control, double beta1, double beta2) {
  check_control(control, control.device(), "prepare_step");
  check_on(sum_squares, control.device(), "prepare_step", "sum_squares");
  LOCKSTEP_CHECK(sum_squares.numel() >= 1 &&
                     (sum_squares.dtype() == DType::kF64 || sum_squares.dtype() == DType::kF32),
                 "prepare_step: expected a float64 or float32 sum of squares, got "
                     << shape_str(sum_squares.shape()) << " " << to_string(sum_squares.dtype()));
  if (control.device() == Device::kCuda)
    return cuda::prepare_step(sum_squares, control, beta1, beta2);
  double* c = control.data<double>();
  const double ss = sum_squares.dtype() == DType::kF64
                        ? sum_squares.data<double>()[0]
                        : static_cast<double>(sum_squares.data<float>()[0]);
  detail::decide_step(ss, c, beta1, beta2);
}

void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, const Tensor& control,
              double momentum, double weight_decay, bool nesterov) {
  check_on(params, params.device(), "sgd_step", "params");
  check_same(params, grads, "sgd_step");
  check_same(params, velocity, "sgd_step");
  check_on(grads, params.device(), "sgd_step", "grads");
  check_on(velocity, params.device(), "sgd_step", "velocity");
  check_control(control, params.device(), "sgd_step");
  if (params.device() == Device::kCuda)
    return cuda::sgd_step(params, grads, velocity, control, momentum, weight_decay, nesterov);
  const double* c = control.data<double>();
  if (c[kSlotSkipped] != 0) return;
  dispatch_real(params.dtype(), "sgd_step", [&]<class T>() {
    T* w = params.data<T>();
    const T* g = grads.data<T>();
    T* v = velocity.data<T>();
    const T tlr = static_cast<T>(c[kSlotLr]), mu = static_cast<T>(momentum),
            wd = static_cast<T>(weight_decay), scale = static_cast<T>(c[kSlotScale]);
    const bool clipped = c[kSlotScale] != 1.0;
    const int64_t n = params.numel();
    for (int64_t i = 0; i < n; ++i) {
      const T gs = clipped ? g[i] * scale : g[i];
      const T gi = gs + wd * w[i];
      v[i] = mu * v[i] + gi;
      w[i] -= tlr * (nesterov ? gi + mu * v[i] : v[i]);
    }
  });
}

void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const Tensor& control,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
  check_on(params, params.device(), "adam_step", "params");
  check_same(params, grads, "adam_step");
  check_same(params, m, "adam_step");
  check_same(params, v, "adam_step");
  check_on(grads, params.device(), "adam_step", "grads");
  check_on(m, params.device(), "adam_step", "m");
  check_on(v, params.device(), "adam_step", "v");
  check_control(control, params.device(), "adam_step");
  if (params.device() == Device::kCuda)
    return cuda::adam_step(params, grads, m, v, control, beta1, beta2, eps, weight_decay,
                           decoupled);
  const double* c = control.data<double>();
  if (c[kSlotSkipped] != 0) return;
  LOCKSTEP_CHECK(c[kSlotSteps] >= 1,
                 "adam_step: expected a step count >= 1, got " << c[kSlotSteps]);
  const double lr = c[kSlotLr], c1 = c[kSlotBias1], c2 = c[kSlotBias2];
  const bool clipped = c[kSlotScale] != 1.0;
  dispatch_real(params.dtype(), "adam_step", [&]<class T>() {
    T* w = params.data<T>();
    const T* g = grads.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const auto scale = static_cast<T>(c[kSlotScale]);
    const int64_t n = params.numel();
    for (int64_t i = 0; i < n; ++i) {
      T gi = clipped ? g[i] * scale : g[i];
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
  Tensor out = Tensor::empty({1}, DType::kF64, x.device()), scratch;
  sum_squares(x, out, scratch);
  if (x.device() == Device::kCpu) return out.data<double>()[0];
  Tensor host = Tensor::empty({1}, DType::kF64);
  host.copy_from(out);  // synchronises
  return host.data<double>()[0];
}

void sum_squares(const Tensor& x, Tensor& out, Tensor& scratch) {
  check_on(x, x.device(), "sum_squares", "x");
  check_on(out, x.device(), "sum_squares", "out");
  LOCKSTEP_CHECK(out.numel() >= 1 && (out.dtype() == DType::kF64 || out.dtype() == DType::kF32),
                 "sum_squares: expected a float64 or float32 output, got "
                     << shape_str(out.shape()) << " " << to_string(out.dtype()));
  if (x.device() == Device::kCuda) return cuda::sum_squares(x, out, scratch);
  double s = 0.0;
  dispatch_real(x.dtype(), "sum_squares", [&]<class T>() {
    const T* p = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i)
      s += static_cast<double>(p[i]) * static_cast<double>(p[i]);
  });
  if (out.dtype() == DType::kF64) {
    out.data<double>()[0] = s;
  } else {
    out.data<float>()[0] = static_cast<float>(s);
  }
}

void restore_if_skipped(Tensor& dst, const Tensor& src, const Tensor& control) {
  check_same(dst, src, "restore_if_skipped");
  check_on(src, dst.device(), "restore_if_skipped", "src");
  check_control(control, dst.device(), "restore_if_skipped");
  if (dst.device() == Device::kCuda) return cuda::restore_if_skipped(dst, src, control);
  if (control.data<double>()[kSlotSkipped] != 0) dst.copy_from(src);
}

void poison_if_nonfinite(Tensor& x, const Tensor& flag, int64_t slot) {
  check_on(flag, x.device(), "poison_if_nonfinite", "flag");
  LOCKSTEP_CHECK(flag.dtype() == DType::kF64 && slot >= 0 && slot < flag.numel() && x.numel() >= 1,
                 "poison_if_nonfinite: expected a float64 flag with slot "
                     << slot << ", got " << shape_str(flag.shape()));
  if (x.device() == Device::kCuda) return cuda::poison_if_nonfinite(x, flag, slot);
  if (std::isfinite(flag.data<double>()[slot])) return;
  dispatch_real(x.dtype(), "poison_if_nonfinite",
                [&]<class T>() { x.data<T>()[0] = std::numeric_limits<T>::quiet_NaN(); });
}

}  // namespace lockstep::ops
