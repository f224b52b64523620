// The convolution and pooling ops' public entry points (core/ops_conv.hpp):
// argument checks, dispatch to cuda/ops_conv.cu for device tensors, then the
// CPU reference for float32 and float64.
//
// Note: conv chunks. A convolution runs over chunks of samples. For a chunk of
// nc samples, im2col writes col (C*kh*kw, nc*P) — row (c, i, j), column
// (n, oh, ow), P = OH*OW — and one GEMM gives Yt (O, nc*P) = W (O, C*kh*kw) col,
// which is scattered into y (n, O, P). Backward transposes dy the same way,
// dW += dYt col^T is one GEMM over all nc*P columns, and dcol = W^T dYt
// (written over col) is folded back into dx by col2im. With nc = 1, Yt and
// dYt are y and dy of that sample and need no transpose. The CUDA backend uses
// the same layout with chunks as large as its workspace cap allows. On the CPU
// a chunk holds about kCpuChunkColumns GEMM columns: on the B3 CNN (batch 64,
// 2 OpenBLAS threads) per-sample GEMMs were ~20% slower for the 11x11 planes of
// the second conv, whole-batch GEMMs ~2x slower for the 26x26 planes of the
// first (col stops fitting in cache), and ~1024 columns was best for both.
// With several CPU threads the chunks are split among them (parallel_for), each
// thread with its own workspace and single-threaded GEMMs; backward's dW
// partials of the later threads are added to dW in thread order. The pooling
// ops split their planes the same way.

#include <algorithm>
#include <numeric>
#include <type_traits>

#include "core/gemm_cpu.hpp"
#include "core/ops_conv.hpp"
#include "core/threads.hpp"

namespace lockstep::ops {
namespace {

// Samples per chunk on the CPU: enough for about this many GEMM columns (nc*P);
// see "Note: conv chunks".
constexpr int64_t kCpuChunkColumns = 1024;
// Pooling planes per thread at least (a plane is small: the threads' start-up
// must be worth it).
constexpr int64_t kPlanesPerPart = 16;

int64_t cpu_chunk(int64_t n, int64_t plane) {
  return std::clamp<int64_t>((kCpuChunkColumns + plane - 1) / plane, 1, n);
}

void check_on(const Tensor& t, Device device, const char* op, const char* arg) {
  LOCKSTEP_CHECK(t.defined(), op << ": argument '" << arg << "' is an undefined tensor");
  LOCKSTEP_CHECK(t.device() == device, op << ": argument '" << arg << "' is on "
                                          << to_string(t.device()) << ", expected "
                                          << to_string(device));
}

void check_shape(const Tensor& t, const Shape& expected, DType dtype, const char* op,
                 const char* arg) {
  LOCKSTEP_CHECK(t.shape() == expected && t.dtype() == dtype,
                 op << ": expected '" << arg << "' " << shape_str(expected) << " "
                    << to_string(dtype) << ", got " << shape_str(t.shape()) << " "
                    << to_string(t.dtype()));
}

template <class F>
void dispatch_real(DType t, const char* op, F&& f) {
  LOCKSTEP_CHECK(t == DType::kF32 || t == DType::kF64,
                 op << ": expected float32 or float64, got " << to_string(t));
  if (t == DType::kF32) {
    f.template operator()<float>();
  } else {
    f.template operator()<double>();
  }
}

// Row-major C (m, n) = op(A) op(B) + beta C.
template <class T>
void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
             int64_t ldb, T beta, T* c, int64_t ldc) {
  detail::gemm_cpu<T>(ta, tb, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc);
}

struct ConvGeom {
  int64_t n, c, h, w;                                 // input (N, C, H, W)
  int64_t o, kh, kw;                                  // weights (O, C, kh, kw)
  int64_t s, p;                                       // stride, padding
  int64_t oh, ow;                                     // output plane
  int64_t plane() const { return oh * ow; }           // P
  int64_t patch() const { return c * kh * kw; }       // rows of col
  Shape out_shape() const { return {n, o, oh, ow}; }  // y, dy
};

ConvGeom conv_geom(const Tensor& x, const Tensor& w, int64_t stride, int64_t pad, const char* op) {
  check_on(x, x.device(), op, "x");
  check_on(w, x.device(), op, "w");
  LOCKSTEP_CHECK(x.rank() == 4 && w.rank() == 4,
                 op << ": expected x (N, C, H, W) and w (O, C, kh, kw), got x "
                    << shape_str(x.shape()) << " and w " << shape_str(w.shape()));
  LOCKSTEP_CHECK(x.dim(1) == w.dim(1), op << ": x has " << x.dim(1) << " channels but w "
                                          << shape_str(w.shape()) << " expects " << w.dim(1));
  LOCKSTEP_CHECK(x.dtype() == w.dtype(),
                 op << ": x is " << to_string(x.dtype()) << " but w is " << to_string(w.dtype()));
  LOCKSTEP_CHECK(stride >= 1 && pad >= 0,
                 op << ": expected stride >= 1 and padding >= 0, got " << stride << ", " << pad);
  ConvGeom g{x.dim(0),
             x.dim(1),
             x.dim(2),
             x.dim(3),
             w.dim(0),
             w.dim(2),
             w.dim(3),
             stride,
             pad,
             conv_out_size(x.dim(2), w.dim(2), stride, pad),
             conv_out_size(x.dim(3), w.dim(3), stride, pad)};
  LOCKSTEP_CHECK(g.oh >= 1 && g.ow >= 1, op << ": kernel " << g.kh << "x" << g.kw
                                            << " does not fit input " << shape_str(x.shape())
                                            << " with padding " << pad);
  return g;
}

// Makes `ws` hold at least `numel` elements of dtype on device (grows only).
void grow(Tensor& ws, int64_t numel, DType dtype, Device device) {
  if (ws.defined() && ws.numel() >= numel && ws.dtype() == dtype && ws.device() == device) return;
  ws = Tensor::empty({numel}, dtype, device);
}

// col (C*kh*kw, nc*P) from samples x (nc, C, H, W); zeros where the window
// reaches into the padding.
template <class T>
void im2col(const T* x, const ConvGeom& g, int64_t nc, T* col) {
  const int64_t cols = nc * g.plane();
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * cols;
        // Output columns whose input column ow*s - p + j lies inside [0, W).
        const int64_t lo = j >= g.p ? 0 : (g.p - j + g.s - 1) / g.s;
        const int64_t hi = std::clamp((g.w + g.p - j + g.s - 1) / g.s, lo, g.ow);
        for (int64_t n = 0; n < nc; ++n) {
          const T* plane = x + (n * g.c + c) * g.h * g.w;
          for (int64_t oh = 0; oh < g.oh; ++oh, row += g.ow) {
            const int64_t ih = oh * g.s - g.p + i;
            if (ih < 0 || ih >= g.h) {
              std::fill(row, row + g.ow, T(0));
              continue;
            }
            const T* src = plane + ih * g.w;
            std::fill(row, row + lo, T(0));
            if (g.s == 1) {  // contiguous: a copy
              std::copy(src + lo - g.p + j, src + hi - g.p + j, row + lo);
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) row[ow] = src[ow * g.s - g.p + j];
            }
            std::fill(row + hi, row + g.ow, T(0));
          }
        }
      }
}

// dx (nc, C, H, W) = the sum of col entries that im2col read from each element.
template <class T>
void col2im(const T* col, const ConvGeom& g, int64_t nc, T* dx) {
  std::fill(dx, dx + nc * g.c * g.h * g.w, T(0));
  const int64_t cols = nc * g.plane();
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * cols;
        const int64_t lo = j >= g.p ? 0 : (g.p - j + g.s - 1) / g.s;
        const int64_t hi = std::clamp((g.w + g.p - j + g.s - 1) / g.s, lo, g.ow);
        for (int64_t n = 0; n < nc; ++n) {
          T* plane = dx + (n * g.c + c) * g.h * g.w;
          for (int64_t oh = 0; oh < g.oh; ++oh, row += g.ow) {
            const int64_t ih = oh * g.s - g.p + i;
            if (ih < 0 || ih >= g.h) continue;
            T* dst = plane + ih * g.w;
            if (g.s == 1) {  // contiguous: vectorises
              T* d = dst + lo - g.p + j;
              const T* r = row + lo;
              for (int64_t q = 0; q < hi - lo; ++q) d[q] += r[q];
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.s - g.p + j] += row[ow];
            }
          }
        }
      }
}

// The per-part workspace: col (K, chunk*P), then Yt / dYt (O, chunk*P) when a
// chunk holds several samples.
int64_t part_workspace(const ConvGeom& g, int64_t chunk) {
  return g.patch() * chunk * g.plane() + (chunk > 1 ? g.o * chunk * g.plane() : 0);
}

template <class T>
void conv_forward_cpu(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeom& g,
                      Tensor& y, Tensor& workspace) {
  const int64_t P = g.plane(), K = g.patch(), chunk = cpu_chunk(g.n, P);
  const int64_t chunks = (g.n + chunk - 1) / chunk, per_part = part_workspace(g, chunk);
  grow(workspace, per_part * parallel_parts(chunks, 1), x.dtype(), Device::kCpu);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pb = bias.defined() ? bias.data<T>() : nullptr;
  T* py = y.data<T>();
  // Chunks are independent: each part converts and multiplies its own.
  parallel_for(chunks, 1, [&](int part, int64_t c0, int64_t c1) {
    T* col = workspace.data<T>() + part * per_part;
    T* yt = col + K * chunk * P;
    for (int64_t n0 = c0 * chunk; n0 < std::min(c1 * chunk, g.n); n0 += chunk) {
      const int64_t nc = std::min(chunk, g.n - n0);
      im2col(px + n0 * g.c * g.h * g.w, g, nc, col);
      T* yn = py + n0 * g.o * P;
      if (nc == 1) {  // y of the sample is Yt: bias first, then accumulate the GEMM
        if (pb)
          for (int64_t o = 0; o < g.o; ++o) std::fill(yn + o * P, yn + (o + 1) * P, pb[o]);
        gemm_rm(false, false, g.o, P, K, pw, K, col, P, T(pb ? 1 : 0), yn, P);
        continue;
      }
      gemm_rm(false, false, g.o, nc * P, K, pw, K, col, nc * P, T(0), yt, nc * P);
      for (int64_t n = 0; n < nc; ++n)
        for (int64_t o = 0; o < g.o; ++o) {
          const T b = pb ? pb[o] : T(0);
          const T* src = yt + o * nc * P + n * P;
          T* dst = yn + (n * g.o + o) * P;
          for (int64_t q = 0; q < P; ++q) dst[q] = src[q] + b;
        }
    }
  });
}

template <class T>
void conv_backward_cpu(const Tensor& x, const Tensor& w, const Tensor& dy, const ConvGeom& g,
                       Tensor* dx, Tensor& acc_dw, Tensor* acc_db, Tensor& workspace) {
  const int64_t P = g.plane(), K = g.patch(), chunk = cpu_chunk(g.n, P);
  const int64_t chunks = (g.n + chunk - 1) / chunk, dw_size = g.o * K;
  const int parts = parallel_parts(chunks, 1);
  // Parts after the first accumulate dW into a zeroed partial of their own,
  // added to acc_dw in part order afterwards (a fixed order: reproducible).
  const int64_t per_part = part_workspace(g, chunk) + dw_size;
  grow(workspace, per_part * parts, x.dtype(), Device::kCpu);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pdy = dy.data<T>();
  T* pdw = acc_dw.data<T>();
  if (acc_db) {
    T* pdb = acc_db->data<T>();
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t o = 0; o < g.o; ++o)
        pdb[o] += std::accumulate(pdy + (n * g.o + o) * P, pdy + (n * g.o + o + 1) * P, T(0));
  }
  parallel_for(chunks, 1, [&](int part, int64_t c0, int64_t c1) {
    T* col = workspace.data<T>() + part * per_part;
    T* dyt = col + K * chunk * P;
    T* dw = pdw;
    if (part > 0) {
      dw = col + part_workspace(g, chunk);
      std::fill(dw, dw + dw_size, T(0));
    }
    for (int64_t n0 = c0 * chunk; n0 < std::min(c1 * chunk, g.n); n0 += chunk) {
      const int64_t nc = std::min(chunk, g.n - n0);
      im2col(px + n0 * g.c * g.h * g.w, g, nc, col);
      const T* dyn = pdy + n0 * g.o * P;
      if (nc > 1) {  // dYt (O, nc*P) from dy (nc, O, P)
        for (int64_t n = 0; n < nc; ++n)
          for (int64_t o = 0; o < g.o; ++o)
            std::copy(dyn + (n * g.o + o) * P, dyn + (n * g.o + o + 1) * P,
                      dyt + o * nc * P + n * P);
        dyn = dyt;
      }
      gemm_rm(false, true, g.o, K, nc * P, dyn, nc * P, col, nc * P, T(1), dw, K);
      if (!dx) continue;
      gemm_rm(true, false, K, nc * P, g.o, pw, K, dyn, nc * P, T(0), col, nc * P);
      col2im(col, g, nc, dx->data<T>() + n0 * g.c * g.h * g.w);
    }
  });
  for (int part = 1; part < parts; ++part) {
    const T* partial = workspace.data<T>() + part * per_part + part_workspace(g, chunk);
    for (int64_t i = 0; i < dw_size; ++i) pdw[i] += partial[i];
  }
}

struct PoolGeom {
  int64_t n, c, h, w;  // input
  int64_t k, s, p;
  int64_t oh, ow;
  Shape out_shape() const { return {n, c, oh, ow}; }
};

// Checks the pooling geometry for an input (N, C, H, W).
PoolGeom pool_geom(const Shape& in, int64_t kernel, int64_t stride, int64_t pad, const char* op) {
  LOCKSTEP_CHECK(in.size() == 4, op << ": expected an input (N, C, H, W), got " << shape_str(in));
  LOCKSTEP_CHECK(kernel >= 1 && stride >= 1 && pad >= 0 && 2 * pad <= kernel,
                 op << ": expected kernel >= 1, stride >= 1 and 0 <= padding <= kernel / 2, got "
                    << kernel << ", " << stride << ", " << pad);
  PoolGeom g{in[0], in[1], in[2], in[3], kernel, stride, pad, 0, 0};
  g.oh = conv_out_size(g.h, kernel, stride, pad);
  g.ow = conv_out_size(g.w, kernel, stride, pad);
  LOCKSTEP_CHECK(g.oh >= 1 && g.ow >= 1, op << ": kernel " << kernel << " does not fit input "
                                            << shape_str(in) << " with padding " << pad);
  return g;
}

// First and one-past-last output index whose window covers input index i.
inline void covering(int64_t i, int64_t k, int64_t s, int64_t p, int64_t out, int64_t& lo,
                     int64_t& hi) {
  lo = i + p < k ? 0 : (i + p - k) / s + 1;
  hi = std::min(out, (i + p) / s + 1);
}

}  // namespace

int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  if (stride < 1 || in + 2 * pad < kernel) return 0;
  return (in + 2 * pad - kernel) / stride + 1;
}

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                    int64_t pad, Tensor& y, Tensor& workspace) {
  const char* op = "conv2d_forward";
  const ConvGeom g = conv_geom(x, w, stride, pad, op);
  check_on(y, x.device(), op, "y");
  check_shape(y, g.out_shape(), x.dtype(), op, "y");
  if (bias.defined()) {
    check_on(bias, x.device(), op, "bias");
    check_shape(bias, {g.o}, x.dtype(), op, "bias");
  }
  if (g.n == 0 || g.o == 0) return;
  if (x.device() == Device::kCuda)
    return cuda::conv2d_forward(x, w, bias, stride, pad, y, workspace);
  dispatch_real(x.dtype(), op,
                [&]<class T>() { conv_forward_cpu<T>(x, w, bias, g, y, workspace); });
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                     int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db, Tensor& workspace) {
  const char* op = "conv2d_backward";
  const ConvGeom g = conv_geom(x, w, stride, pad, op);
  check_on(dy, x.device(), op, "dy");
  check_shape(dy, g.out_shape(), x.dtype(), op, "dy");
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
    return cuda::conv2d_backward(x, w, dy, stride, pad, dx, acc_dw, acc_db, workspace);
  dispatch_real(x.dtype(), op, [&]<class T>() {
    conv_backward_cpu<T>(x, w, dy, g, dx, acc_dw, acc_db, workspace);
  });
}

void maxpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad, Tensor& y,
                       Tensor& index) {
  const char* op = "maxpool2d_forward";
  check_on(x, x.device(), op, "x");
  const PoolGeom g = pool_geom(x.shape(), kernel, stride, pad, op);
  check_on(y, x.device(), op, "y");
  check_shape(y, g.out_shape(), x.dtype(), op, "y");
  check_on(index, x.device(), op, "index");
  check_shape(index, g.out_shape(), DType::kI32, op, "index");
  if (x.device() == Device::kCuda) return cuda::maxpool2d_forward(x, kernel, stride, pad, y, index);
  dispatch_real(x.dtype(), op, [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    int32_t* pi = index.data<int32_t>();
    parallel_for(g.n * g.c, kPlanesPerPart, [&](int, int64_t p0, int64_t p1) {
      for (int64_t plane = p0; plane < p1; ++plane) {
        const T* in = px + plane * g.h * g.w;
        for (int64_t oh = 0; oh < g.oh; ++oh) {
          // The window clipped to the input (never empty: padding <= kernel / 2).
          const int64_t i0 = std::max<int64_t>(oh * g.s - g.p, 0);
          const int64_t i1 = std::min(oh * g.s - g.p + g.k, g.h);
          for (int64_t ow = 0; ow < g.ow; ++ow) {
            const int64_t j0 = std::max<int64_t>(ow * g.s - g.p, 0);
            const int64_t j1 = std::min(ow * g.s - g.p + g.k, g.w);
            int64_t best = i0 * g.w + j0;
            T bv = in[best];
            bool nan = false;
            for (int64_t i = i0; i < i1; ++i)
              for (int64_t j = j0; j < j1; ++j) {
                // Strictly greater: the first maximum wins. Branch-free (conditional
                // moves): the comparisons are unpredictable.
                const T v = in[i * g.w + j];
                const bool greater = v > bv;
                nan |= v != v;
                best = greater ? i * g.w + j : best;
                bv = greater ? v : bv;
              }
            if (nan) {  // the first NaN in the window wins, so NaN propagates
              for (int64_t i = i1 - 1; i >= i0; --i)
                for (int64_t j = j1 - 1; j >= j0; --j)
                  if (in[i * g.w + j] != in[i * g.w + j]) best = i * g.w + j;
              bv = in[best];
            }
            py[(plane * g.oh + oh) * g.ow + ow] = bv;
            pi[(plane * g.oh + oh) * g.ow + ow] = static_cast<int32_t>(best);
          }
        }
      }
    });
  });
}

void maxpool2d_backward(const Tensor& dy, const Tensor& index, int64_t kernel, int64_t stride,
                        int64_t pad, Tensor& dx) {
  const char* op = "maxpool2d_backward";
  check_on(dx, dx.device(), op, "dx");
  const PoolGeom g = pool_geom(dx.shape(), kernel, stride, pad, op);
  check_on(dy, dx.device(), op, "dy");
  check_shape(dy, g.out_shape(), dx.dtype(), op, "dy");
  check_on(index, dx.device(), op, "index");
  check_shape(index, g.out_shape(), DType::kI32, op, "index");
  if (dx.device() == Device::kCuda)
    return cuda::maxpool2d_backward(dy, index, kernel, stride, pad, dx);
  // Scatter in output order. Every input receives its dy in the same order as
  // the GPU's gather (ascending oh, then ow), so the sums are bit-identical.
  dispatch_real(dx.dtype(), op, [&]<class T>() {
    const T* pdy = dy.data<T>();
    const int32_t* pi = index.data<int32_t>();
    T* pdx = dx.data<T>();
    const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow;
    parallel_for(g.n * g.c, kPlanesPerPart, [&](int, int64_t p0, int64_t p1) {
      std::fill(pdx + p0 * in_plane, pdx + p1 * in_plane, T(0));
      for (int64_t plane = p0; plane < p1; ++plane) {
        T* d = pdx + plane * in_plane;
        const T* src = pdy + plane * out_plane;
        const int32_t* at = pi + plane * out_plane;
        for (int64_t o = 0; o < out_plane; ++o) {
          LOCKSTEP_CHECK(at[o] >= 0 && at[o] < in_plane, op << ": index " << at[o]
                                                            << " is outside the input plane of "
                                                            << in_plane);
          d[at[o]] += src[o];
        }
      }
    });
  });
}

void avgpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad, Tensor& y) {
  const char* op = "avgpool2d_forward";
  check_on(x, x.device(), op, "x");
  const PoolGeom g = pool_geom(x.shape(), kernel, stride, pad, op);
  check_on(y, x.device(), op, "y");
  check_shape(y, g.out_shape(), x.dtype(), op, "y");
  if (x.device() == Device::kCuda) return cuda::avgpool2d_forward(x, kernel, stride, pad, y);
  dispatch_real(x.dtype(), op, [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T area = static_cast<T>(g.k * g.k);
    for (int64_t plane = 0; plane < g.n * g.c; ++plane) {
      const T* in = px + plane * g.h * g.w;
      for (int64_t oh = 0; oh < g.oh; ++oh)
        for (int64_t ow = 0; ow < g.ow; ++ow) {
          T sum = 0;
          for (int64_t i = std::max<int64_t>(oh * g.s - g.p, 0);
               i < std::min(oh * g.s - g.p + g.k, g.h); ++i)
            for (int64_t j = std::max<int64_t>(ow * g.s - g.p, 0);
                 j < std::min(ow * g.s - g.p + g.k, g.w); ++j)
              sum += in[i * g.w + j];
          py[(plane * g.oh + oh) * g.ow + ow] = sum / area;
        }
    }
  });
}

void avgpool2d_backward(const Tensor& dy, int64_t kernel, int64_t stride, int64_t pad, Tensor& dx) {
  const char* op = "avgpool2d_backward";
  check_on(dx, dx.device(), op, "dx");
  const PoolGeom g = pool_geom(dx.shape(), kernel, stride, pad, op);
  check_on(dy, dx.device(), op, "dy");
  check_shape(dy, g.out_shape(), dx.dtype(), op, "dy");
  if (dx.device() == Device::kCuda) return cuda::avgpool2d_backward(dy, kernel, stride, pad, dx);
  dispatch_real(dx.dtype(), op, [&]<class T>() {
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    const T area = static_cast<T>(g.k * g.k);
    for (int64_t plane = 0; plane < g.n * g.c; ++plane)
      for (int64_t h = 0; h < g.h; ++h)
        for (int64_t w = 0; w < g.w; ++w) {
          int64_t oh0, oh1, ow0, ow1;
          covering(h, g.k, g.s, g.p, g.oh, oh0, oh1);
          covering(w, g.k, g.s, g.p, g.ow, ow0, ow1);
          T sum = 0;
          for (int64_t oh = oh0; oh < oh1; ++oh)
            for (int64_t ow = ow0; ow < ow1; ++ow) sum += pdy[(plane * g.oh + oh) * g.ow + ow];
          pdx[(plane * g.h + h) * g.w + w] = sum / area;
        }
  });
}

void global_avg_pool_forward(const Tensor& x, Tensor& y) {
  const char* op = "global_avg_pool_forward";
  check_on(x, x.device(), op, "x");
  check_on(y, x.device(), op, "y");
  LOCKSTEP_CHECK(x.rank() == 4 && x.dim(2) * x.dim(3) > 0,
                 op << ": expected a non-empty input (N, C, H, W), got " << shape_str(x.shape()));
  check_shape(y, {x.dim(0), x.dim(1)}, x.dtype(), op, "y");
  if (x.device() == Device::kCuda) return cuda::global_avg_pool_forward(x, y);
  dispatch_real(x.dtype(), op, [&]<class T>() {
    const int64_t planes = x.dim(0) * x.dim(1), hw = x.dim(2) * x.dim(3);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t i = 0; i < planes; ++i) {
      T sum = 0;
      for (int64_t q = 0; q < hw; ++q) sum += px[i * hw + q];
      py[i] = sum / static_cast<T>(hw);
    }
  });
}

void global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  const char* op = "global_avg_pool_backward";
  check_on(dx, dx.device(), op, "dx");
  check_on(dy, dx.device(), op, "dy");
  LOCKSTEP_CHECK(dx.rank() == 4 && dx.dim(2) * dx.dim(3) > 0,
                 op << ": expected a non-empty dx (N, C, H, W), got " << shape_str(dx.shape()));
  check_shape(dy, {dx.dim(0), dx.dim(1)}, dx.dtype(), op, "dy");
  if (dx.device() == Device::kCuda) return cuda::global_avg_pool_backward(dy, dx);
  dispatch_real(dx.dtype(), op, [&]<class T>() {
    const int64_t planes = dx.dim(0) * dx.dim(1), hw = dx.dim(2) * dx.dim(3);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    for (int64_t i = 0; i < planes; ++i) {
      const T v = pdy[i] / static_cast<T>(hw);
      std::fill(pdx + i * hw, pdx + (i + 1) * hw, v);
    }
  });
}

}  // namespace lockstep::ops
