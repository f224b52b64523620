#pragma once
// Internal to ops/conv.cu and ops/pool.cu: the geometry of a window sweep over
// an NCHW batch, passed to the kernels by value.

#include <cstdint>

namespace lockstep::ops::cuda::detail {

struct Geom {
  int64_t n, c, h, w;  // input (N, C, H, W)
  int64_t o, kh, kw;   // weights (O, C, kh, kw); for pooling o = c and kh = kw = k
  int64_t s, p;        // stride, padding
  int64_t oh, ow;      // output plane
};

}  // namespace lockstep::ops::cuda::detail
