// The ops' public entry points: argument checks, then dispatch on the device
// (CUDA versions in cuda/ops.cu), then the CPU reference (float32 and float64).
// GEMM goes through CBLAS (OpenBLAS); the rest are plain loops the compiler
// vectorises. Large GEMMs and element-wise passes split over the CPU threads. Dispatch on dtype
// happens once per call.

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/gemm_cpu.hpp"
#include "core/ops.hpp"
#include "core/ops_check.hpp"
#include "core/ops_cuda.hpp"
#include "core/rng.hpp"
#include "core/threads.hpp"

namespace lockstep::ops {
namespace {

using detail::check_on;
using detail::check_same;
using detail::dispatch_real;
using detail::is_real;

int64_t cols_of(const Tensor& t) {
  return t.rank() == 0 || t.dim(0) == 0 ? 0 : t.numel() / t.dim(0);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          Tensor& c) {
  check_on(a, a.device(), "gemm", "a");
  check_on(b, a.device(), "gemm", "b");
  check_on(c, a.device(), "gemm", "c");
  LOCKSTEP_CHECK(a.rank() == 2 && b.rank() == 2 && c.rank() == 2,
                 "gemm: expected 2-D operands, got " << shape_str(a.shape()) << ", "
                                                     << shape_str(b.shape()) << ", "
                                                     << shape_str(c.shape()));
  LOCKSTEP_CHECK(a.dtype() == b.dtype() && b.dtype() == c.dtype(),
                 "gemm: operands differ in dtype");
  const int64_t m = trans_a ? a.dim(1) : a.dim(0);
  const int64_t k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  LOCKSTEP_CHECK(k == kb && c.dim(0) == m && c.dim(1) == n,
                 "gemm: shapes do not agree: op(a) " << m << "x" << k << ", op(b) " << kb << "x"
                                                     << n << ", c " << shape_str(c.shape()));
  if (m == 0 || n == 0) return;
  if (a.device() == Device::kCuda) return cuda::gemm(trans_a, trans_b, alpha, a, b, beta, c);
  if (k == 0) {
    scale(c, beta);
    return;
  }
  dispatch_real(a.dtype(), "gemm", [&]<class T>() {
    detail::gemm_cpu<T>(trans_a, trans_b, m, n, k, static_cast<T>(alpha), a.data<T>(), a.dim(1),
                        b.data<T>(), b.dim(1), static_cast<T>(beta), c.data<T>(), c.dim(1));
  });
}

void add_row_bias(Tensor& y, const Tensor& bias) {
  check_on(y, y.device(), "add_row_bias", "y");
  check_on(bias, y.device(), "add_row_bias", "bias");
  const int64_t rows = y.rank() ? y.dim(0) : 0, cols = cols_of(y);
  LOCKSTEP_CHECK(
      bias.numel() == cols && bias.dtype() == y.dtype(),
      "add_row_bias: expected a bias of " << cols << " elements, got " << shape_str(bias.shape()));
  if (y.device() == Device::kCuda) return cuda::add_row_bias(y, bias);
  dispatch_real(y.dtype(), "add_row_bias", [&]<class T>() {
    T* py = y.data<T>();
    const T* pb = bias.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) py[r * cols + c] += pb[c];
  });
}

void acc_column_sums(const Tensor& dy, Tensor& acc_db) {
  check_on(dy, dy.device(), "acc_column_sums", "dy");
  check_on(acc_db, dy.device(), "acc_column_sums", "acc_db");
  const int64_t rows = dy.rank() ? dy.dim(0) : 0, cols = cols_of(dy);
  LOCKSTEP_CHECK(
      acc_db.numel() == cols && acc_db.dtype() == dy.dtype(),
      "acc_column_sums: expected " << cols << " sums, got " << shape_str(acc_db.shape()));
  if (dy.device() == Device::kCuda) return cuda::acc_column_sums(dy, acc_db);
  dispatch_real(dy.dtype(), "acc_column_sums", [&]<class T>() {
    const T* pd = dy.data<T>();
    T* pb = acc_db.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) pb[c] += pd[r * cols + c];
  });
}

namespace {
// Element-wise passes split over the CPU threads above this many elements a part.
constexpr int64_t kElementsPerPart = int64_t{1} << 16;

// y[i] = f(x[i]) over two same-shaped tensors.
template <class F>
void unary(const Tensor& x, Tensor& y, const char* op, F f,
           void (*on_gpu)(const Tensor&, Tensor&)) {
  check_on(x, x.device(), op, "x");
  check_on(y, x.device(), op, "y");
  check_same(x, y, op);
  if (x.device() == Device::kCuda) return on_gpu(x, y);
  dispatch_real(x.dtype(), op, [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(x.numel(), kElementsPerPart, [&](int, int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) py[i] = f(px[i]);
    });
  });
}

// dx[i] = f(s[i], dy[i]) with s the saved tensor.
template <class F>
void binary(const Tensor& s, const Tensor& dy, Tensor& dx, const char* op, F f,
            void (*on_gpu)(const Tensor&, const Tensor&, Tensor&)) {
  check_on(s, s.device(), op, "saved");
  check_on(dy, s.device(), op, "dy");
  check_on(dx, s.device(), op, "dx");
  check_same(s, dy, op);
  check_same(dy, dx, op);
  if (s.device() == Device::kCuda) return on_gpu(s, dy, dx);
  dispatch_real(s.dtype(), op, [&]<class T>() {
    const T* ps = s.data<T>();
    const T* pd = dy.data<T>();
    T* px = dx.data<T>();
    parallel_for(s.numel(), kElementsPerPart, [&](int, int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) px[i] = f(ps[i], pd[i]);
    });
  });
}
}  // namespace

void relu_forward(const Tensor& x, Tensor& y) {
  unary(
      x, y, "relu_forward", [](auto v) { return v > 0 ? v : decltype(v)(0); }, cuda::relu_forward);
}
void relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  binary(
      x, dy, dx, "relu_backward", [](auto v, auto g) { return v > 0 ? g : decltype(g)(0); },
      cuda::relu_backward);
}
void sigmoid_forward(const Tensor& x, Tensor& y) {
  unary(
      x, y, "sigmoid_forward",
      [](auto v) {
        using T = decltype(v);
        // Stable for large |v|: never exponentiates a large positive number.
        if (v >= 0) return T(1) / (T(1) + std::exp(-v));
        const T e = std::exp(v);
        return e / (T(1) + e);
      },
      cuda::sigmoid_forward);
}
void sigmoid_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  binary(
      y, dy, dx, "sigmoid_backward", [](auto s, auto g) { return g * s * (decltype(s)(1) - s); },
      cuda::sigmoid_backward);
}
void tanh_forward(const Tensor& x, Tensor& y) {
  unary(
      x, y, "tanh_forward", [](auto v) { return std::tanh(v); }, cuda::tanh_forward);
}
void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  binary(
      y, dy, dx, "tanh_backward", [](auto t, auto g) { return g * (decltype(t)(1) - t * t); },
      cuda::tanh_backward);
}

void dropout_forward(const Tensor& x, double p, uint64_t key, Tensor& mask, Tensor& y) {
  check_on(x, x.device(), "dropout_forward", "x");
  check_same(x, mask, "dropout_forward");
  check_same(x, y, "dropout_forward");
  LOCKSTEP_CHECK(p >= 0.0 && p < 1.0, "dropout: expected a rate in [0, 1), got " << p);
  check_on(mask, x.device(), "dropout_forward", "mask");
  check_on(y, x.device(), "dropout_forward", "y");
  if (x.device() == Device::kCuda) return cuda::dropout_forward(x, p, key, mask, y);
  dispatch_real(x.dtype(), "dropout_forward", [&]<class T>() {
    const T* px = x.data<T>();
    T* pm = mask.data<T>();
    T* py = y.data<T>();
    const T keep_scale = T(1) / T(1 - p);
    const auto threshold = static_cast<float>(p);
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) {
      pm[i] = uniform_at(key, static_cast<uint64_t>(i)) >= threshold ? keep_scale : T(0);
      py[i] = px[i] * pm[i];
    }
  });
}

void multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(
      a, b, out, "multiply", [](auto u, auto v) { return u * v; }, cuda::multiply);
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(
      a, b, out, "add", [](auto u, auto v) { return u + v; }, cuda::add);
}

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double grad_scale,
                           Tensor& loss, Tensor& correct, Tensor* dlogits) {
  check_on(logits, logits.device(), "softmax_cross_entropy", "logits");
  check_on(labels, logits.device(), "softmax_cross_entropy", "labels");
  LOCKSTEP_CHECK(logits.rank() == 2, "softmax_cross_entropy: expected logits (N, K), got "
                                         << shape_str(logits.shape()));
  const int64_t n = logits.dim(0), k = logits.dim(1);
  LOCKSTEP_CHECK(labels.dtype() == DType::kI32 && labels.numel() == n,
                 "softmax_cross_entropy: expected " << n << " int32 class ids, got "
                                                    << shape_str(labels.shape()) << " "
                                                    << to_string(labels.dtype()));
  LOCKSTEP_CHECK(loss.numel() == n && loss.dtype() == DType::kF64 && correct.numel() == n &&
                     correct.dtype() == DType::kI32,
                 "softmax_cross_entropy: loss/correct outputs must hold " << n << " rows");
  if (dlogits) check_same(logits, *dlogits, "softmax_cross_entropy");
  check_on(loss, logits.device(), "softmax_cross_entropy", "loss");
  check_on(correct, logits.device(), "softmax_cross_entropy", "correct");
  if (dlogits) check_on(*dlogits, logits.device(), "softmax_cross_entropy", "dlogits");
  if (logits.device() == Device::kCuda)
    return cuda::softmax_cross_entropy(logits, labels, grad_scale, loss, correct, dlogits);
  const int32_t* pl = labels.data<int32_t>();
  double* ploss = loss.data<double>();
  int32_t* pc = correct.data<int32_t>();
  dispatch_real(logits.dtype(), "softmax_cross_entropy", [&]<class T>() {
    const T* pz = logits.data<T>();
    T* pd = dlogits ? dlogits->data<T>() : nullptr;
    for (int64_t r = 0; r < n; ++r) {
      const T* z = pz + r * k;
      const int32_t label = pl[r];
      LOCKSTEP_CHECK(label >= 0 && label < k, "class id " << label << " in batch row " << r
                                                          << " is outside the model's " << k
                                                          << " classes [0, " << k << ")");
      int64_t arg = 0;
      for (int64_t j = 1; j < k; ++j)
        if (z[j] > z[arg]) arg = j;
      const double zmax = static_cast<double>(z[arg]);
      double sum = 0.0;
      for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(z[j]) - zmax);
      const double log_sum = std::log(sum);
      ploss[r] = log_sum + zmax - static_cast<double>(z[label]);
      pc[r] = arg == label ? 1 : 0;
      if (pd) {
        T* d = pd + r * k;
        for (int64_t j = 0; j < k; ++j) {
          const double prob = std::exp(static_cast<double>(z[j]) - zmax - log_sum);
          d[j] = static_cast<T>(grad_scale * (prob - (j == label ? 1.0 : 0.0)));
        }
      }
    }
  });
}

void mse(const Tensor& out, const Tensor& targets, double grad_scale, Tensor& loss, Tensor* dout) {
  check_on(out, out.device(), "mse", "out");
  check_on(targets, out.device(), "mse", "targets");
  LOCKSTEP_CHECK(out.rank() == 2, "mse: expected outputs (N, K), got " << shape_str(out.shape()));
  const int64_t n = out.dim(0), k = out.dim(1);
  LOCKSTEP_CHECK(targets.numel() == n * k && targets.dtype() == out.dtype(),
                 "mse: expected targets of " << n << "x" << k << " " << to_string(out.dtype())
                                             << ", got " << shape_str(targets.shape()) << " "
                                             << to_string(targets.dtype()));
  LOCKSTEP_CHECK(loss.numel() == n && loss.dtype() == DType::kF64,
                 "mse: loss output must hold " << n << " float64 rows");
  if (dout) check_same(out, *dout, "mse");
  check_on(loss, out.device(), "mse", "loss");
  if (dout) check_on(*dout, out.device(), "mse", "dout");
  if (out.device() == Device::kCuda) return cuda::mse(out, targets, grad_scale, loss, dout);
  double* ploss = loss.data<double>();
  dispatch_real(out.dtype(), "mse", [&]<class T>() {
    const T* po = out.data<T>();
    const T* pt = targets.data<T>();
    T* pd = dout ? dout->data<T>() : nullptr;
    for (int64_t r = 0; r < n; ++r) {
      double s = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const double e = static_cast<double>(po[r * k + j]) - static_cast<double>(pt[r * k + j]);
        s += e * e;
        if (pd) pd[r * k + j] = static_cast<T>(grad_scale * 2.0 * e / static_cast<double>(k));
      }
      ploss[r] = s / static_cast<double>(k);
    }
  });
}

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

void scale(Tensor& x, double alpha) {
  check_on(x, x.device(), "scale", "x");
  if (x.device() == Device::kCuda) return cuda::scale(x, alpha);
  dispatch_real(x.dtype(), "scale", [&]<class T>() {
    T* p = x.data<T>();
    const auto a = static_cast<T>(alpha);
    const int64_t n = x.numel();
    if (alpha == 0.0) {
      std::fill(p, p + n, T(0));
    } else {
      for (int64_t i = 0; i < n; ++i) p[i] *= a;
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
