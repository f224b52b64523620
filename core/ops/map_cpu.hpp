#pragma once
// Internal to the element-wise op families (ops/activation.cpp,
// ops/elementwise.cpp): checked element-wise CPU passes split over the CPU
// threads, with the dispatch to the CUDA version for device tensors.

#include "core/ops/check.hpp"
#include "core/threads.hpp"

namespace lockstep::ops::detail {

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

}  // namespace lockstep::ops::detail
