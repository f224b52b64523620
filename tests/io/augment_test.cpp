// Augmentation: flips and padded crops move pixels exactly, are seeded, and
// reject non-image batches.

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace lockstep::io
