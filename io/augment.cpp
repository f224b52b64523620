#include "io/augment.hpp"

#include <algorithm>

#include "core/rng.hpp"

namespace lockstep::io {

void augment_batch(Tensor& x, const AugmentOptions& o, uint64_t key, std::vector<float>& scratch) {
  if (!o.active()) return;
  LOCKSTEP_CHECK(x.rank() == 4,
                 "augmentation (data.crop_padding / data.hflip): expected image "
                 "batches (N, C, H, W), got "
                     << shape_str(x.shape()));
  LOCKSTEP_CHECK(o.crop_padding >= 0, "data.crop_padding: expected >= 0, got " << o.crop_padding);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), plane = h * w;
  float* data = x.data<float>();
  scratch.resize(static_cast<size_t>(c * plane));
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(hash_keys({key, static_cast<uint64_t>(i)}));
    const int64_t span = 2 * o.crop_padding + 1;
    // The crop window's offset in the padded image, minus the padding.
    const int64_t dy =
        static_cast<int64_t>(rng.below(static_cast<uint64_t>(span))) - o.crop_padding;
    const int64_t dx =
        static_cast<int64_t>(rng.below(static_cast<uint64_t>(span))) - o.crop_padding;
    const bool flip = o.hflip && rng.below(2) == 1;
    if (dy == 0 && dx == 0 && !flip) continue;
    float* s = data + i * c * plane;
    std::copy(s, s + c * plane, scratch.begin());
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xo = 0; xo < w; ++xo) {
          const int64_t sy = y + dy;
          const int64_t sx0 = (flip ? w - 1 - xo : xo) + dx;
          const bool inside = sy >= 0 && sy < h && sx0 >= 0 && sx0 < w;
          s[(ch * h + y) * w + xo] =
              inside ? scratch[static_cast<size_t>((ch * h + sy) * w + sx0)] : 0.0f;
        }
  }
}

}  // namespace lockstep::io
