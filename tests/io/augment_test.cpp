// Augmentation: flips and padded crops move pixels exactly, are seeded, and
// reject non-image batches; label maps move exactly with their images (crop,
// flip, scale jitter by nearest), brightness / contrast leave them alone.

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "io/augment.hpp"

namespace lockstep::io {
namespace {

Tensor ramp(int64_t n, int64_t c, int64_t h, int64_t w) {
  Tensor x = Tensor::empty({n, c, h, w}, DType::kF32);
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data<float>()[i] = static_cast<float>(i % (c * h * w) + 1);
  return x;
}

TEST(Augment, FlipMirrorsEachSampleOrLeavesIt) {
  Tensor x = ramp(64, 2, 3, 5);
  std::vector<float> scratch;
  augment_batch(x, {0, true}, 7, scratch);
  int flipped = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const float* s = x.data<float>() + i * 30;
    const bool is_flipped = s[0] == 5.0f;
    flipped += is_flipped;
    for (int64_t ch = 0; ch < 2; ++ch)
      for (int64_t y = 0; y < 3; ++y)
        for (int64_t xo = 0; xo < 5; ++xo) {
          const int64_t src = is_flipped ? 4 - xo : xo;
          ASSERT_EQ(s[(ch * 3 + y) * 5 + xo], static_cast<float>((ch * 3 + y) * 5 + src + 1));
        }
  }
  EXPECT_GT(flipped, 16);
  EXPECT_LT(flipped, 48);
}

TEST(Augment, PaddedCropShiftsContentAndFillsZeros) {
  Tensor x = ramp(32, 1, 6, 6);
  std::vector<float> scratch;
  augment_batch(x, {2, false}, 9, scratch);
  int moved = 0;
  for (int64_t i = 0; i < 32; ++i) {
    const float* s = x.data<float>() + i * 36;
    // Find the shift from any non-zero pixel; all must agree.
    int64_t dy = 99, dx = 99;
    for (int64_t p = 0; p < 36; ++p) {
      if (s[p] == 0.0f) continue;
      const int64_t src = static_cast<int64_t>(s[p]) - 1;
      const int64_t ddy = src / 6 - p / 6, ddx = src % 6 - p % 6;
      if (dy == 99) {
        dy = ddy;
        dx = ddx;
      }
      ASSERT_EQ(ddy, dy);
      ASSERT_EQ(ddx, dx);
    }
    ASSERT_LE(std::abs(dy), 2);
    ASSERT_LE(std::abs(dx), 2);
    moved += dy != 0 || dx != 0;
  }
  EXPECT_GT(moved, 16);
}

TEST(Augment, SeededAndChecked) {
  Tensor a = ramp(8, 3, 8, 8), b = ramp(8, 3, 8, 8), c = ramp(8, 3, 8, 8);
  std::vector<float> scratch;
  augment_batch(a, {4, true}, 1, scratch);
  augment_batch(b, {4, true}, 1, scratch);
  augment_batch(c, {4, true}, 2, scratch);
  EXPECT_TRUE(std::equal(a.data<float>(), a.data<float>() + a.numel(), b.data<float>()));
  EXPECT_FALSE(std::equal(a.data<float>(), a.data<float>() + a.numel(), c.data<float>()));
  Tensor flat = Tensor::zeros({4, 10}, DType::kF32);
  EXPECT_THROW(augment_batch(flat, {2, false}, 1, scratch), lockstep::Error);
}

// Images whose channel 0 holds a pixel's id + 1 and masks holding the same id.
struct Pair {
  Tensor x, m;
};
Pair id_pair(int64_t n, int64_t c, int64_t h, int64_t w) {
  Pair p{Tensor::empty({n, c, h, w}, DType::kF32), Tensor::empty({n, h, w}, DType::kI32)};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t j = 0; j < h * w; ++j) {
        p.x.data<float>()[(i * c + ch) * h * w + j] = static_cast<float>(ch == 0 ? j + 1 : 7);
        if (ch == 0) p.m.data<int32_t>()[i * h * w + j] = static_cast<int32_t>(j + 1);
      }
  return p;
}

TEST(Augment, MasksMoveExactlyWithTheirImages) {
  Pair p = id_pair(64, 2, 6, 9);
  std::vector<float> scratch;
  AugmentOptions o;
  o.crop_padding = 3;
  o.hflip = true;
  augment_batch(p.x, &p.m, o, 11, scratch, /*mask_fill=*/-5);
  int moved = 0;
  for (int64_t i = 0; i < 64 * 54; ++i) {
    const float v = p.x.data<float>()[(i / 54) * 108 + i % 54];
    const int32_t id = p.m.data<int32_t>()[i];
    // Pixels from outside: image 0, mask the fill value.
    ASSERT_EQ(id, v == 0.0f ? -5 : static_cast<int32_t>(v)) << "pixel " << i;
    moved += id != static_cast<int32_t>(i % 54 + 1);
  }
  EXPECT_GT(moved, 64 * 20);
}

TEST(Augment, ScaleJitterReadsImagesBilinearAndMasksNearest) {
  const int64_t h = 8, w = 10;
  Pair p = id_pair(16, 1, h, w);
  const Pair orig = id_pair(16, 1, h, w);
  std::vector<float> scratch;
  AugmentOptions o;
  o.scale_jitter = 0.4;
  o.hflip = true;
  const uint64_t key = 5;
  augment_batch(p.x, &p.m, o, key, scratch, 255);
  int scaled = 0;
  for (int64_t i = 0; i < 16; ++i) {
    const SampleAugment a = draw_augment(o, key, i);
    scaled += std::abs(a.scale - 1.0) > 0.05;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const double px = static_cast<double>(a.flip ? w - 1 - x : x);
        const double fy = h / 2.0 + (static_cast<double>(y) + 0.5 - h / 2.0) / a.scale - 0.5;
        const double fx = w / 2.0 + (px + 0.5 - w / 2.0) / a.scale - 0.5;
        const auto ny = static_cast<int64_t>(std::floor(fy + 0.5));
        const auto nx = static_cast<int64_t>(std::floor(fx + 0.5));
        const bool inside = ny >= 0 && ny < h && nx >= 0 && nx < w;
        ASSERT_EQ(p.m.data<int32_t>()[(i * h + y) * w + x],
                  inside ? orig.m.data<int32_t>()[ny * w + nx] : 255);
        // The image's bilinear value lies between its neighbours' ids, and a
        // pixel whose sample point is a pixel centre reads that pixel exactly.
        const float v = p.x.data<float>()[(i * h + y) * w + x];
        if (inside && std::abs(fy - static_cast<double>(ny)) < 1e-9 &&
            std::abs(fx - static_cast<double>(nx)) < 1e-9) {
          ASSERT_FLOAT_EQ(v, static_cast<float>(ny * w + nx + 1));
        }
      }
  }
  EXPECT_GT(scaled, 8);
}

TEST(Augment, BrightnessAndContrastChangeImagesNotMasks) {
  Pair p = id_pair(8, 3, 4, 4);
  const Pair orig = id_pair(8, 3, 4, 4);
  std::vector<float> scratch;
  AugmentOptions o;
  o.brightness = 0.5;
  o.contrast = 0.5;
  augment_batch(p.x, &p.m, o, 3, scratch);
  EXPECT_TRUE(
      std::equal(p.m.data<int32_t>(), p.m.data<int32_t>() + p.m.numel(), orig.m.data<int32_t>()));
  for (int64_t i = 0; i < 8; ++i) {
    const SampleAugment a = draw_augment(o, 3, i);
    double mean = 0;
    for (int64_t j = 0; j < 48; ++j) mean += orig.x.data<float>()[i * 48 + j];
    mean /= 48;
    for (int64_t j = 0; j < 48; ++j)
      ASSERT_NEAR(p.x.data<float>()[i * 48 + j],
                  (orig.x.data<float>()[i * 48 + j] - mean) * a.contrast + mean + a.brightness,
                  1e-4);
  }
  Tensor bad = Tensor::empty({8, 4, 5}, DType::kI32);
  EXPECT_THROW(augment_batch(p.x, &bad, o, 3, scratch), lockstep::Error);
}

}  // namespace
}  // namespace lockstep::io
