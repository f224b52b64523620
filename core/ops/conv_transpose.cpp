// Transposed convolution (ops/conv_transpose.hpp): argument checks, dispatch
// to ops/conv_transpose.cu for device tensors, the CPU reference (direct
// loops: the decoder layers it serves are small next to the encoder convs).

#include "core/ops/conv_transpose.hpp"

#include <algorithm>

#include "core/ops/check.hpp"
#include "core/threads.hpp"

namespace lockstep::ops {
namespace {

using detail::check_on;
using detail::check_shape;
using detail::dispatch_real;

struct Geom {
  int64_t n, c, h, w, o, k, s, p, oh, ow;
};

// y's shape is given (it carries output_padding); the rest must agree with it.
Geom geom(const Tensor& x, const Tensor& w, const Tensor& y, int64_t stride, int64_t pad,
          const char* op, const char* y_name) {
  check_on(x, x.device(), op, "x");
  check_on(w, x.device(), op, "w");
  check_on(y, x.device(), op, y_name);
  LOCKSTEP_CHECK(x.rank() == 4 && w.rank() == 4 && y.rank() == 4 && w.dim(2) == w.dim(3),
                 op << ": expected x (N, C, H, W), w (C, O, k, k) and " << y_name
                    << " (N, O, OH, OW), got " << shape_str(x.shape()) << ", "
                    << shape_str(w.shape()) << ", " << shape_str(y.shape()));
  LOCKSTEP_CHECK(stride >= 1 && pad >= 0,
                 op << ": expected stride >= 1 and padding >= 0, got " << stride << ", " << pad);
  const Geom g{x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(1),
               w.dim(2), stride,   pad,      y.dim(2), y.dim(3)};
  check_shape(w, {g.c, g.o, g.k, g.k}, x.dtype(), op, "w");
  const int64_t q_h = g.oh - conv_transpose_out_size(g.h, g.k, g.s, g.p, 0);
  const int64_t q_w = g.ow - conv_transpose_out_size(g.w, g.k, g.s, g.p, 0);
  LOCKSTEP_CHECK(q_h >= 0 && q_h < g.s && q_w >= 0 && q_w < g.s,
                 op << ": " << y_name << " " << shape_str(y.shape()) << " does not fit input "
                    << shape_str(x.shape()) << " with kernel " << g.k << ", stride " << g.s
                    << ", padding " << g.p << " (output padding must be in [0, stride))");
  check_shape(y, {g.n, g.o, g.oh, g.ow}, x.dtype(), op, y_name);
  return g;
}

template <class T>
void forward_cpu(const T* x, const T* w, const T* bias, const Geom& g, T* y) {
  const int64_t plane = g.oh * g.ow;
  parallel_for(g.n, 1, [&](int, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      T* yn = y + n * g.o * plane;
      for (int64_t o = 0; o < g.o; ++o)
        std::fill(yn + o * plane, yn + (o + 1) * plane, bias ? bias[o] : T(0));
      for (int64_t c = 0; c < g.c; ++c) {
        const T* xc = x + (n * g.c + c) * g.h * g.w;
        for (int64_t o = 0; o < g.o; ++o) {
          const T* wk = w + (c * g.o + o) * g.k * g.k;
          T* yo = yn + o * plane;
          for (int64_t ih = 0; ih < g.h; ++ih)
            for (int64_t i = 0; i < g.k; ++i) {
              const int64_t r = ih * g.s - g.p + i;
              if (r < 0 || r >= g.oh) continue;
              for (int64_t iw = 0; iw < g.w; ++iw) {
                const T v = xc[ih * g.w + iw];
                for (int64_t j = 0; j < g.k; ++j) {
                  const int64_t col = iw * g.s - g.p + j;
                  if (col >= 0 && col < g.ow) yo[r * g.ow + col] += v * wk[i * g.k + j];
                }
              }
            }
        }
      }
    }
  });
}

// sum over i, j of a[ih s - p + i, iw s - p + j] * b[i, j] (inside the output plane).
template <class T>
T window_dot(const T* a, const T* b, const Geom& g, int64_t ih, int64_t iw) {
  T sum = 0;
  for (int64_t i = 0; i < g.k; ++i) {
    const int64_t r = ih * g.s - g.p + i;
    if (r < 0 || r >= g.oh) continue;
    for (int64_t j = 0; j < g.k; ++j) {
      const int64_t col = iw * g.s - g.p + j;
      if (col >= 0 && col < g.ow) sum += a[r * g.ow + col] * b[i * g.k + j];
    }
  }
  return sum;
}

template <class T>
void backward_cpu(const T* x, const T* w, const T* dy, const Geom& g, T* dx, T* dw, T* db) {
  const int64_t plane = g.oh * g.ow, kk = g.k * g.k;
  if (db)
    for (int64_t o = 0; o < g.o; ++o) {
      T sum = 0;
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t q = 0; q < plane; ++q) sum += dy[(n * g.o + o) * plane + q];
      db[o] += sum;
    }
  if (dx)
    parallel_for(g.n, 1, [&](int, int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t c = 0; c < g.c; ++c)
          for (int64_t ih = 0; ih < g.h; ++ih)
            for (int64_t iw = 0; iw < g.w; ++iw) {
              T sum = 0;
              for (int64_t o = 0; o < g.o; ++o)
                sum += window_dot(dy + (n * g.o + o) * plane, w + (c * g.o + o) * kk, g, ih, iw);
              dx[((n * g.c + c) * g.h + ih) * g.w + iw] = sum;
            }
    });
  // dw[c, o, i, j] += sum over n, ih, iw of x[n, c, ih, iw] dy[n, o, ih s - p + i, iw s - p + j]
  parallel_for(g.c * g.o, 1, [&](int, int64_t b0, int64_t b1) {
    for (int64_t co = b0; co < b1; ++co) {
      const int64_t c = co / g.o, o = co % g.o;
      T* d = dw + co * kk;
      for (int64_t i = 0; i < g.k; ++i)
        for (int64_t j = 0; j < g.k; ++j) {
          T sum = 0;
          for (int64_t n = 0; n < g.n; ++n) {
            const T* xc = x + (n * g.c + c) * g.h * g.w;
            const T* go = dy + (n * g.o + o) * plane;
            for (int64_t ih = 0; ih < g.h; ++ih) {
              const int64_t r = ih * g.s - g.p + i;
              if (r < 0 || r >= g.oh) continue;
              for (int64_t iw = 0; iw < g.w; ++iw) {
                const int64_t col = iw * g.s - g.p + j;
                if (col >= 0 && col < g.ow) sum += xc[ih * g.w + iw] * go[r * g.ow + col];
              }
            }
          }
          d[i * g.k + j] += sum;
        }
    }
  });
}

}  // namespace

int64_t conv_transpose_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                                int64_t output_pad) {
  const int64_t out = (in - 1) * stride - 2 * pad + kernel + output_pad;
  return out > 0 ? out : 0;
}

void conv_transpose2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                              int64_t pad, Tensor& y) {
  const char* op = "conv_transpose2d_forward";
  const Geom g = geom(x, w, y, stride, pad, op, "y");
  if (bias.defined()) {
    check_on(bias, x.device(), op, "bias");
    check_shape(bias, {g.o}, x.dtype(), op, "bias");
  }
  if (y.numel() == 0) return;
  if (x.device() == Device::kCuda)
    return cuda::conv_transpose2d_forward(x, w, bias, stride, pad, y);
  dispatch_real(x.dtype(), op, [&]<class T>() {
    forward_cpu<T>(x.data<T>(), w.data<T>(), bias.defined() ? bias.data<T>() : nullptr, g,
                   y.data<T>());
  });
}

void conv_transpose2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                               int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db) {
  const char* op = "conv_transpose2d_backward";
  const Geom g = geom(x, w, dy, stride, pad, op, "dy");
  check_on(acc_dw, x.device(), op, "acc_dw");
  check_shape(acc_dw, w.shape(), x.dtype(), op, "acc_dw");
  if (acc_db) {
    check_on(*acc_db, x.device(), op, "acc_db");
    check_shape(*acc_db, {g.o}, x.dtype(), op, "acc_db");
  }
  if (dx) {
    check_on(*dx, x.device(), op, "dx");
    check_shape(*dx, x.shape(), x.dtype(), op, "dx");
  }
  if (g.n == 0) return;
  if (x.device() == Device::kCuda)
    return cuda::conv_transpose2d_backward(x, w, dy, stride, pad, dx, acc_dw, acc_db);
  dispatch_real(x.dtype(), op, [&]<class T>() {
    backward_cpu<T>(x.data<T>(), w.data<T>(), dy.data<T>(), g, dx ? dx->data<T>() : nullptr,
                    acc_dw.data<T>(), acc_db ? acc_db->data<T>() : nullptr);
  });
}

}  // namespace lockstep::ops
