// Augmentation (augment.hpp). Geometry: output pixel (y, x) reads the source
// pixel (y + dy, (flip ? W-1-x : x) + dx); with a scale s != 1 that point is
// then mapped about the image centre, src = c + (p + 0.5 - c) / s - 0.5, and
// read bilinearly (image) or from the nearest pixel (mask). With s = 1 the
// source is an integer pixel and both read it exactly.

#include "io/augment.hpp"

#include <algorithm>
#include <cmath>

#include "core/rng.hpp"

namespace lockstep::io {

namespace {

// Bilinear read of plane p (h x w) at (fy, fx); outside pixels are 0.
float bilinear(const float* p, int64_t h, int64_t w, double fy, double fx) {
  const auto y0 = static_cast<int64_t>(std::floor(fy));
  const auto x0 = static_cast<int64_t>(std::floor(fx));
  const double wy = fy - static_cast<double>(y0), wx = fx - static_cast<double>(x0);
  const auto at = [&](int64_t y, int64_t x) -> double {
    return y >= 0 && y < h && x >= 0 && x < w ? p[y * w + x] : 0.0;
  };
  return static_cast<float>((at(y0, x0) * (1 - wx) + at(y0, x0 + 1) * wx) * (1 - wy) +
                            (at(y0 + 1, x0) * (1 - wx) + at(y0 + 1, x0 + 1) * wx) * wy);
}

}  // namespace

SampleAugment draw_augment(const AugmentOptions& o, uint64_t key, int64_t sample) {
  Rng rng(hash_keys({key, static_cast<uint64_t>(sample)}));
  SampleAugment a;
  const int64_t span = 2 * o.crop_padding + 1;
  a.dy = static_cast<int64_t>(rng.below(static_cast<uint64_t>(span))) - o.crop_padding;
  a.dx = static_cast<int64_t>(rng.below(static_cast<uint64_t>(span))) - o.crop_padding;
  a.flip = o.hflip && rng.below(2) == 1;
  if (o.scale_jitter > 0) a.scale = 1.0 + o.scale_jitter * (2.0 * rng.uniform() - 1.0);
  if (o.brightness > 0) a.brightness = o.brightness * (2.0 * rng.uniform() - 1.0);
  if (o.contrast > 0) a.contrast = 1.0 + o.contrast * (2.0 * rng.uniform() - 1.0);
  return a;
}

void augment_batch(Tensor& x, Tensor* masks, const AugmentOptions& o, uint64_t key,
                   std::vector<float>& scratch, int32_t mask_fill) {
  if (!o.active()) return;
  LOCKSTEP_CHECK(x.rank() == 4,
                 "augmentation (data.crop_padding / data.hflip / data.scale_jitter / "
                 "data.brightness / data.contrast): expected image batches (N, C, H, W), got "
                     << shape_str(x.shape()));
  LOCKSTEP_CHECK(o.crop_padding >= 0, "data.crop_padding: expected >= 0, got " << o.crop_padding);
  LOCKSTEP_CHECK(o.scale_jitter >= 0 && o.scale_jitter < 1,
                 "data.scale_jitter: expected 0 <= s < 1, got " << o.scale_jitter);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), plane = h * w;
  if (masks) {
    LOCKSTEP_CHECK(masks->shape() == (Shape{n, h, w}) && masks->dtype() == DType::kI32,
                   "augmentation: label maps of shape "
                       << shape_str(masks->shape()) << "; expected int32 " << shape_str({n, h, w})
                       << " matching the images");
  }
  float* data = x.data<float>();
  scratch.resize(static_cast<size_t>(c * plane));
  std::vector<int32_t> mask_scratch(masks ? static_cast<size_t>(plane) : 0);
  const double cy = static_cast<double>(h) / 2, cx = static_cast<double>(w) / 2;
  for (int64_t i = 0; i < n; ++i) {
    const SampleAugment a = draw_augment(o, key, i);
    float* s = data + i * c * plane;
    int32_t* m = masks ? masks->data<int32_t>() + i * plane : nullptr;
    if (a.dy != 0 || a.dx != 0 || a.flip || a.scale != 1.0) {
      std::copy(s, s + c * plane, scratch.begin());
      if (m) std::copy(m, m + plane, mask_scratch.begin());
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xo = 0; xo < w; ++xo) {
          const int64_t sy = y + a.dy;
          const int64_t sx0 = (a.flip ? w - 1 - xo : xo) + a.dx;
          if (a.scale == 1.0) {
            const bool inside = sy >= 0 && sy < h && sx0 >= 0 && sx0 < w;
            for (int64_t ch = 0; ch < c; ++ch)
              s[(ch * h + y) * w + xo] =
                  inside ? scratch[static_cast<size_t>((ch * h + sy) * w + sx0)] : 0.0f;
            if (m)
              m[y * w + xo] = inside ? mask_scratch[static_cast<size_t>(sy * w + sx0)] : mask_fill;
            continue;
          }
          const double fy = cy + (static_cast<double>(sy) + 0.5 - cy) / a.scale - 0.5;
          const double fx = cx + (static_cast<double>(sx0) + 0.5 - cx) / a.scale - 0.5;
          for (int64_t ch = 0; ch < c; ++ch)
            s[(ch * h + y) * w + xo] = bilinear(scratch.data() + ch * plane, h, w, fy, fx);
          if (m) {
            const auto ny = static_cast<int64_t>(std::floor(fy + 0.5));
            const auto nx = static_cast<int64_t>(std::floor(fx + 0.5));
            const bool inside = ny >= 0 && ny < h && nx >= 0 && nx < w;
            m[y * w + xo] = inside ? mask_scratch[static_cast<size_t>(ny * w + nx)] : mask_fill;
          }
        }
    }
    if (a.brightness != 0.0 || a.contrast != 1.0) {
      double mean = 0;
      for (int64_t j = 0; j < c * plane; ++j) mean += s[j];
      mean /= static_cast<double>(c * plane);
      for (int64_t j = 0; j < c * plane; ++j)
        s[j] = static_cast<float>((s[j] - mean) * a.contrast + mean + a.brightness);
    }
  }
}

}  // namespace lockstep::io
