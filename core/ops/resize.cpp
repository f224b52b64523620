// Upsampling and channel joins (ops/resize.hpp): argument checks, dispatch to
// ops/resize.cu for device tensors, the CPU reference.

#include "core/ops/resize.hpp"

#include <algorithm>
#include <cmath>

#include "core/ops/check.hpp"
#include "core/threads.hpp"

namespace lockstep::ops {
namespace {

using detail::check_on;
using detail::check_shape;
using detail::dispatch_real;

// Planes per part below which a pass is not split over threads.
constexpr int64_t kPlanesPerPart = 4;

// The two input pixels output pixel o reads along one axis and the weight of
// the second (see the header: PyTorch's align_corners=false).
struct Tap {
  int64_t i0, i1;
  double w1;
};

Tap bilinear_tap(int64_t o, int64_t in, int64_t scale) {
  const double src =
      std::max(0.0, (static_cast<double>(o) + 0.5) / static_cast<double>(scale) - 0.5);
  const auto i0 = std::min(static_cast<int64_t>(src), in - 1);
  return {i0, std::min(i0 + 1, in - 1), src - static_cast<double>(i0)};
}

void check_upsample(const Tensor& small, const Tensor& big, int64_t scale, const char* op,
                    const char* small_name, const char* big_name) {
  check_on(small, small.device(), op, small_name);
  check_on(big, small.device(), op, big_name);
  LOCKSTEP_CHECK(small.rank() == 4, op << ": expected " << small_name << " (N, C, H, W), got "
                                       << shape_str(small.shape()));
  LOCKSTEP_CHECK(scale >= 1, op << ": expected a scale factor >= 1, got " << scale);
  check_shape(big, {small.dim(0), small.dim(1), small.dim(2) * scale, small.dim(3) * scale},
              small.dtype(), op, big_name);
}

// f(plane, t) for every plane (n, c) of a tensor with `planes` planes.
template <class F>
void for_planes(int64_t planes, F f) {
  parallel_for(planes, kPlanesPerPart, [&](int, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) f(p);
  });
}

template <class T>
void upsample_cpu(const T* x, T* y, int64_t planes, int64_t h, int64_t w, int64_t s,
                  UpsampleMode mode) {
  const int64_t oh = h * s, ow = w * s;
  for_planes(planes, [&](int64_t p) {
    const T* in = x + p * h * w;
    T* out = y + p * oh * ow;
    for (int64_t i = 0; i < oh; ++i) {
      if (mode == UpsampleMode::kNearest) {
        for (int64_t j = 0; j < ow; ++j) out[i * ow + j] = in[(i / s) * w + j / s];
        continue;
      }
      const Tap r = bilinear_tap(i, h, s);
      for (int64_t j = 0; j < ow; ++j) {
        const Tap c = bilinear_tap(j, w, s);
        const double top = (1 - c.w1) * static_cast<double>(in[r.i0 * w + c.i0]) +
                           c.w1 * static_cast<double>(in[r.i0 * w + c.i1]);
        const double bottom = (1 - c.w1) * static_cast<double>(in[r.i1 * w + c.i0]) +
                              c.w1 * static_cast<double>(in[r.i1 * w + c.i1]);
        out[i * ow + j] = static_cast<T>((1 - r.w1) * top + r.w1 * bottom);
      }
    }
  });
}

template <class T>
void upsample_backward_cpu(const T* dy, T* dx, int64_t planes, int64_t h, int64_t w, int64_t s,
                           UpsampleMode mode) {
  const int64_t oh = h * s, ow = w * s;
  for_planes(planes, [&](int64_t p) {
    const T* g = dy + p * oh * ow;
    T* d = dx + p * h * w;
    std::fill(d, d + h * w, T(0));
    for (int64_t i = 0; i < oh; ++i) {
      if (mode == UpsampleMode::kNearest) {
        for (int64_t j = 0; j < ow; ++j) d[(i / s) * w + j / s] += g[i * ow + j];
        continue;
      }
      const Tap r = bilinear_tap(i, h, s);
      for (int64_t j = 0; j < ow; ++j) {
        const Tap c = bilinear_tap(j, w, s);
        const double v = static_cast<double>(g[i * ow + j]);
        d[r.i0 * w + c.i0] += static_cast<T>((1 - r.w1) * (1 - c.w1) * v);
        d[r.i0 * w + c.i1] += static_cast<T>((1 - r.w1) * c.w1 * v);
        d[r.i1 * w + c.i0] += static_cast<T>(r.w1 * (1 - c.w1) * v);
        d[r.i1 * w + c.i1] += static_cast<T>(r.w1 * c.w1 * v);
      }
    }
  });
}

}  // namespace

void upsample_forward(const Tensor& x, int64_t scale, UpsampleMode mode, Tensor& y) {
  const char* op = "upsample_forward";
  check_upsample(x, y, scale, op, "x", "y");
  if (x.numel() == 0) return;
  if (x.device() == Device::kCuda) return cuda::upsample_forward(x, scale, mode, y);
  dispatch_real(x.dtype(), op, [&]<class T>() {
    upsample_cpu(x.data<T>(), y.data<T>(), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), scale, mode);
  });
}

void upsample_backward(const Tensor& dy, int64_t scale, UpsampleMode mode, Tensor& dx) {
  const char* op = "upsample_backward";
  check_upsample(dx, dy, scale, op, "dx", "dy");
  if (dx.numel() == 0) return;
  if (dx.device() == Device::kCuda) return cuda::upsample_backward(dy, scale, mode, dx);
  dispatch_real(dx.dtype(), op, [&]<class T>() {
    upsample_backward_cpu(dy.data<T>(), dx.data<T>(), dx.dim(0) * dx.dim(1), dx.dim(2), dx.dim(3),
                          scale, mode);
  });
}

namespace {

// Checks a (N, Ca, H, W), b (N, Cb, H, W) against y (N, Ca + Cb, H, W).
void check_concat(const Tensor& a, const Tensor* b, const Tensor& y, const char* op) {
  check_on(a, y.device(), op, "a");
  LOCKSTEP_CHECK(a.rank() == 4 && y.rank() == 4, op << ": expected (N, C, H, W) tensors, got "
                                                    << shape_str(a.shape()) << " and "
                                                    << shape_str(y.shape()));
  const int64_t cb = y.dim(1) - a.dim(1);
  LOCKSTEP_CHECK(cb >= 0, op << ": " << shape_str(y.shape()) << " has fewer channels than "
                             << shape_str(a.shape()));
  check_shape(a, {y.dim(0), a.dim(1), y.dim(2), y.dim(3)}, y.dtype(), op, "a");
  if (b) {
    check_on(*b, y.device(), op, "b");
    check_shape(*b, {y.dim(0), cb, y.dim(2), y.dim(3)}, y.dtype(), op, "b");
  }
}

// Copies per sample: `first` elements between a and y's front, the rest between b and y's back.
template <class T, class F>
void per_sample(int64_t n, int64_t first, int64_t second, F f) {
  parallel_for(n, 1, [&](int, int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) f(s, first, second);
  });
}

}  // namespace

void concat_channels(const Tensor& a, const Tensor& b, Tensor& y) {
  const char* op = "concat_channels";
  check_concat(a, &b, y, op);
  if (y.numel() == 0) return;
  if (y.device() == Device::kCuda) return cuda::concat_channels(a, b, y);
  const int64_t fa = a.numel() / y.dim(0), fb = b.numel() / y.dim(0);
  dispatch_real(y.dtype(), op, [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    per_sample<T>(y.dim(0), fa, fb, [&](int64_t s, int64_t na, int64_t nb) {
      std::copy(pa + s * na, pa + (s + 1) * na, py + s * (na + nb));
      std::copy(pb + s * nb, pb + (s + 1) * nb, py + s * (na + nb) + na);
    });
  });
}

void split_channels(const Tensor& dy, Tensor& da, Tensor* db) {
  const char* op = "split_channels";
  check_concat(da, db, dy, op);
  if (dy.numel() == 0) return;
  if (dy.device() == Device::kCuda) return cuda::split_channels(dy, da, db);
  const int64_t fa = da.numel() / dy.dim(0), fb = dy.numel() / dy.dim(0) - fa;
  dispatch_real(dy.dtype(), op, [&]<class T>() {
    const T* py = dy.data<T>();
    T* pa = da.data<T>();
    T* pb = db ? db->data<T>() : nullptr;
    per_sample<T>(dy.dim(0), fa, fb, [&](int64_t s, int64_t na, int64_t nb) {
      const T* src = py + s * (na + nb);
      std::copy(src, src + na, pa + s * na);
      if (pb) std::copy(src + na, src + na + nb, pb + s * nb);
    });
  });
}

}  // namespace lockstep::ops
