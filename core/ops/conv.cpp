// The convolution ops (ops/conv.hpp): argument checks, dispatch to
// ops/conv.cu for device tensors, then the CPU reference for float32 and
// float64.
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
// thread with its own workspace and single-threaded GEMMs. Backward sums dW
// over at most kDwGroups groups of consecutive chunks, each group into its own
// partial, added in group order: the groups depend on the batch and the plane
// size only, so dW has the same bits on any number of threads.

#include <algorithm>
#include <numeric>
#include <type_traits>

#include "core/ops/check.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/gemm_cpu.hpp"
#include "core/threads.hpp"

namespace lockstep::ops {
namespace {

// Samples per chunk on the CPU: enough for about this many GEMM columns (nc*P);
// see "Note: conv chunks".
constexpr int64_t kCpuChunkColumns = 1024;

// Groups of chunks whose weight gradients are summed separately (backward):
// at most this many, so at most this many threads share a convolution's backward.
constexpr int64_t kDwGroups = 8;

int64_t cpu_chunk(int64_t n, int64_t plane) {
  return std::clamp<int64_t>((kCpuChunkColumns + plane - 1) / plane, 1, n);
}

using detail::check_on;
using detail::check_shape;
using detail::dispatch_real;

// Row-major C (m, n) = op(A) op(B) + beta C.
template <class T>
void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
             int64_t ldb, T beta, T* c, int64_t ldc) {
  detail::gemm_cpu<T>(ta, tb, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc);
}

struct ConvGeom {
  int64_t n, c, h, w;  // input (N, C, H, W)
  int64_t o, kh, kw;   // weights (O, C, kh, kw)
  int64_t s, p;        // stride, padding
  int64_t oh, ow;      // output plane
  ConvLayout layout;
  int64_t plane() const { return oh * ow; }      // P
  int64_t patch() const { return c * kh * kw; }  // rows of col
  Shape out_shape() const {                      // y, dy
    return layout == ConvLayout::kNhwc ? Shape{n, oh, ow, o} : Shape{n, o, oh, ow};
  }
};

// The checked geometry as the GPU backends take it.
cuda::ConvProblem problem_of(const ConvGeom& g) {
  return {g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.s, g.p, g.oh, g.ow, g.layout};
}

// The geometry of x and w in `layout` (ops/conv.hpp), checked.
ConvGeom conv_geom(const Tensor& x, const Tensor& w, int64_t stride, int64_t pad, ConvLayout layout,
                   const char* op) {
  check_on(x, x.device(), op, "x");
  check_on(w, x.device(), op, "w");
  const bool nhwc = layout == ConvLayout::kNhwc;
  LOCKSTEP_CHECK(x.rank() == 4 && w.rank() == 4,
                 op << ": expected x " << (nhwc ? "(N, H, W, C)" : "(N, C, H, W)") << " and w "
                    << (nhwc ? "(O, kh, kw, C)" : "(O, C, kh, kw)") << ", got x "
                    << shape_str(x.shape()) << " and w " << shape_str(w.shape()));
  // Dimension indices of C, H, W in x and of C, kh, kw in w.
  const int c = nhwc ? 3 : 1, h = nhwc ? 1 : 2, wd = nhwc ? 2 : 3;
  LOCKSTEP_CHECK(x.dim(c) == w.dim(c), op << ": x has " << x.dim(c) << " channels but w "
                                          << shape_str(w.shape()) << " expects " << w.dim(c));
  LOCKSTEP_CHECK(x.dtype() == w.dtype(),
                 op << ": x is " << to_string(x.dtype()) << " but w is " << to_string(w.dtype()));
  LOCKSTEP_CHECK(stride >= 1 && pad >= 0,
                 op << ": expected stride >= 1 and padding >= 0, got " << stride << ", " << pad);
  LOCKSTEP_CHECK(!nhwc || x.device() == Device::kCuda,
                 op << ": NHWC convolutions run on the GPU (cuDNN backend) only; expected NCHW "
                       "tensors on the CPU");
  ConvGeom g{x.dim(0),
             x.dim(c),
             x.dim(h),
             x.dim(wd),
             w.dim(0),
             w.dim(h),
             w.dim(wd),
             stride,
             pad,
             conv_out_size(x.dim(h), w.dim(h), stride, pad),
             conv_out_size(x.dim(wd), w.dim(wd), stride, pad),
             layout};
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
  // dW is summed over groups of chunks that do not depend on the thread count
  // (see "Note: conv chunks"): group 0 accumulates into acc_dw, the others
  // into zeroed partials that are added to acc_dw in group order.
  const int64_t groups = std::min(chunks, kDwGroups);
  const int parts = parallel_parts(groups, 1);
  const int64_t per_part = part_workspace(g, chunk);
  grow(workspace, per_part * parts + (groups - 1) * dw_size, x.dtype(), Device::kCpu);
  T* partials = workspace.data<T>() + per_part * parts;  // (groups - 1, O, K)
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
  parallel_for(groups, 1, [&](int part, int64_t g0, int64_t g1) {
    T* col = workspace.data<T>() + part * per_part;
    T* dyt = col + K * chunk * P;
    for (int64_t group = g0; group < g1; ++group) {
      T* dw = pdw;
      if (group > 0) {
        dw = partials + (group - 1) * dw_size;
        std::fill(dw, dw + dw_size, T(0));
      }
      const int64_t first = group * chunks / groups, last = (group + 1) * chunks / groups;
      for (int64_t n0 = first * chunk; n0 < std::min(last * chunk, g.n); n0 += chunk) {
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
    }
  });
  for (int64_t group = 1; group < groups; ++group) {
    const T* partial = partials + (group - 1) * dw_size;
    for (int64_t i = 0; i < dw_size; ++i) pdw[i] += partial[i];
  }
}

}  // namespace

int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  if (stride < 1 || in + 2 * pad < kernel) return 0;
  return (in + 2 * pad - kernel) / stride + 1;
}

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
                    int64_t pad, Tensor& y, Tensor& workspace, ConvLayout layout) {
  const char* op = "conv2d_forward";
  const ConvGeom g = conv_geom(x, w, stride, pad, layout, op);
  check_on(y, x.device(), op, "y");
  check_shape(y, g.out_shape(), x.dtype(), op, "y");
  if (bias.defined()) {
    check_on(bias, x.device(), op, "bias");
    check_shape(bias, {g.o}, x.dtype(), op, "bias");
  }
  if (g.n == 0 || g.o == 0) return;
  if (x.device() == Device::kCuda) return cuda::conv2d_forward(problem_of(g), x, w, bias, y);
  dispatch_real(x.dtype(), op,
                [&]<class T>() { conv_forward_cpu<T>(x, w, bias, g, y, workspace); });
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int64_t stride,
                     int64_t pad, Tensor* dx, Tensor& acc_dw, Tensor* acc_db, Tensor& workspace,
                     ConvLayout layout) {
  const char* op = "conv2d_backward";
  const ConvGeom g = conv_geom(x, w, stride, pad, layout, op);
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
    return cuda::conv2d_backward(problem_of(g), x, w, dy, dx, acc_dw, acc_db);
  dispatch_real(x.dtype(), op, [&]<class T>() {
    conv_backward_cpu<T>(x, w, dy, g, dx, acc_dw, acc_db, workspace);
  });
}

}  // namespace lockstep::ops
