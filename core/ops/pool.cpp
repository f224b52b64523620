// The pooling ops (ops/pool.hpp): argument checks, dispatch to ops/pool.cu for
// device tensors, then the CPU reference for float32 and float64. The planes (n, c) are split over
// the CPU threads (core/threads.hpp); every plane is computed the same way on any number of
// threads.

#include <algorithm>

#include "core/ops/check.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/pool.hpp"
#include "core/threads.hpp"

namespace lockstep::ops {
namespace {

using detail::check_on;
using detail::check_shape;
using detail::dispatch_real;

// Pooling planes per thread at least (a plane is small: the threads' start-up
// must be worth it).
constexpr int64_t kPlanesPerPart = 16;

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

// Max pooling with 2x2 windows, stride 2, no padding (the common case), for
// planes [p0, p1): the same scan order and rules as the general loop (the
// first maximum wins; the first NaN wins, so NaN propagates), without its
// per-window bounds.
template <class T>
void maxpool_2x2(const T* px, const PoolGeom& g, int64_t p0, int64_t p1, T* py, int32_t* pi) {
  for (int64_t plane = p0; plane < p1; ++plane) {
    const T* in = px + plane * g.h * g.w;
    T* out = py + plane * g.oh * g.ow;
    int32_t* at = pi + plane * g.oh * g.ow;
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const int64_t top = 2 * oh * g.w;
      const T* r0 = in + top;
      const T* r1 = r0 + g.w;
      for (int64_t ow = 0; ow < g.ow; ++ow, ++out, ++at) {
        const int64_t j = 2 * ow;
        const T v[4] = {r0[j], r0[j + 1], r1[j], r1[j + 1]};
        const int64_t where[4] = {top + j, top + j + 1, top + g.w + j, top + g.w + j + 1};
        int q = 0;
        for (int k = 1; k < 4; ++k) q = v[k] > v[q] ? k : q;
        if (v[0] != v[0] || v[1] != v[1] || v[2] != v[2] || v[3] != v[3]) {
          q = 3;
          for (int k = 3; k >= 0; --k) q = v[k] != v[k] ? k : q;
        }
        *out = v[q];
        *at = static_cast<int32_t>(where[q]);
      }
    }
  }
}

}  // namespace

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
      if (g.k == 2 && g.s == 2 && g.p == 0) return maxpool_2x2<T>(px, g, p0, p1, py, pi);
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
