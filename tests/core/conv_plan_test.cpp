// The host-side decisions behind the GPU convolutions, without a GPU: the
// im2col backend's chunk plan (the scratch cap holds even when one sample
// alone is over it; chunks cover every output row once), the cuDNN
// algorithm-cache key, the backend choice, and the NHWC argument checks.

#include <gtest/gtest.h>

#include <unordered_set>
#include <vector>

#include "core/error.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/conv_plan.hpp"

namespace lockstep {
namespace {

using ops::ConvAlgoKey;
using ops::ConvChunkPlan;
using ops::plan_conv_chunks;

constexpr int64_t kCap = int64_t{1} << 26;  // the default: 256 MB of float32

// Every plan: within the cap (unless a single row is wider), chunks that
// tile the batch and the output rows.
void expect_valid(int64_t n, int64_t k, int64_t o, int64_t oh, int64_t ow, int64_t cap) {
  const ConvChunkPlan p = plan_conv_chunks(n, k, o, oh, ow, cap);
  SCOPED_TRACE("n " + std::to_string(n) + " K " + std::to_string(k) + " O " + std::to_string(o) +
               " plane " + std::to_string(oh) + "x" + std::to_string(ow) + " cap " +
               std::to_string(cap));
  ASSERT_GE(p.samples, 1);
  ASSERT_LE(p.samples, n);
  ASSERT_GE(p.rows, 1);
  ASSERT_LE(p.rows, oh);
  if (p.samples > 1) {
    EXPECT_EQ(p.rows, oh);
  }
  EXPECT_GE(p.col_elems, k * p.samples * p.rows * ow);
  EXPECT_LT(p.col_elems, k * p.samples * p.rows * ow + 64);
  EXPECT_EQ(p.col_elems % 64, 0);
  EXPECT_EQ(p.total, p.col_elems + (p.samples > 1 ? o * p.samples * oh * ow : 0));
  // Within the cap (up to the 64-element rounding), unless one output row
  // alone is over it.
  if (k * ow <= cap) {
    EXPECT_LE(p.total, cap + 63);
  }
}

TEST(ConvChunkPlan, CameraSizedSampleIsCutIntoRowsUnderTheCap) {
  // 3x3 256->256 with a 2048x1024 output: col of one sample is 2304 x 2M
  // elements (19 GB); the plan keeps it within 256 MB.
  const ConvChunkPlan p = plan_conv_chunks(2, 256 * 9, 256, 1024, 2048, kCap);
  EXPECT_EQ(p.samples, 1);
  EXPECT_EQ(p.rows, kCap / (256 * 9 * 2048));  // 14 rows
  EXPECT_LE(p.total * 4, int64_t{256} << 20);
  expect_valid(2, 256 * 9, 256, 1024, 2048, kCap);
  // The first layer on a camera frame: 3->16, 3x3, one sample fits whole.
  const ConvChunkPlan first = plan_conv_chunks(1, 27, 16, 1024, 2048, kCap);
  EXPECT_EQ(first.samples, 1);
  EXPECT_EQ(first.rows, 1024);
}

TEST(ConvChunkPlan, SmallImagesGoInBatches) {
  // The B3 CNN's first conv: 64 samples of 26x26, K 9, O 32: one chunk.
  const ConvChunkPlan p = plan_conv_chunks(64, 9, 32, 26, 26, kCap);
  EXPECT_EQ(p.samples, 64);
  EXPECT_EQ(p.rows, 26);
  // The old test's "over the cap" case: 13 x 32ch 128x128, 3x3: chunks of 12.
  EXPECT_EQ(plan_conv_chunks(13, 288, 32, 128, 128, kCap).samples, 12);
}

TEST(ConvChunkPlan, EveryShapeStaysValid) {
  for (int64_t cap : {int64_t{1}, int64_t{100}, int64_t{4096}, int64_t{1} << 20, kCap})
    for (int64_t n : {1, 2, 7})
      for (int64_t k : {1, 27, 2304})
        for (int64_t o : {1, 16, 256})
          for (int64_t oh : {1, 5, 1024})
            for (int64_t ow : {1, 3, 2048}) expect_valid(n, k, o, oh, ow, cap);
}

TEST(ConvChunkPlan, RowChunksTileTheOutput) {
  // 7 output rows of 5 columns, K 4: a cap of 45 gives 2-row chunks (4 chunks).
  const ConvChunkPlan p = plan_conv_chunks(3, 4, 2, 7, 5, 45);
  EXPECT_EQ(p.samples, 1);
  EXPECT_EQ(p.rows, 2);
  int64_t covered = 0, chunks = 0;
  for (int64_t r0 = 0; r0 < 7; r0 += p.rows, ++chunks) covered += std::min(p.rows, 7 - r0);
  EXPECT_EQ(covered, 7);
  EXPECT_EQ(chunks, 4);
}

// The input rows a chunk of output rows reads: all those that some window of
// the chunk covers, and none outside the windows' hull, for strides over and
// under the kernel size.
TEST(ConvChunkPlan, InputRowsOfARowChunk) {
  for (int64_t h : {1, 5, 8, 13})
    for (int64_t kh : {1, 2, 3, 5})
      for (int64_t s : {1, 2, 3})
        for (int64_t p : {0, 1, 2}) {
          const int64_t oh = ops::conv_out_size(h, kh, s, p);
          if (oh < 1) continue;
          for (int64_t r0 = 0; r0 < oh; ++r0)
            for (int64_t rows = 1; r0 + rows <= oh; ++rows) {
              std::vector<bool> read(h, false);
              for (int64_t o = r0; o < r0 + rows; ++o)
                for (int64_t i = 0; i < kh; ++i) {
                  const int64_t ih = o * s - p + i;
                  if (ih >= 0 && ih < h) read[ih] = true;
                }
              const ops::RowRange range = ops::conv_input_rows(r0, rows, kh, s, p, h);
              SCOPED_TRACE("h " + std::to_string(h) + " k " + std::to_string(kh) + " s " +
                           std::to_string(s) + " p " + std::to_string(p) + " rows [" +
                           std::to_string(r0) + ", " + std::to_string(r0 + rows) + ")");
              ASSERT_LE(0, range.first);
              ASSERT_LE(range.first, range.last);
              ASSERT_LE(range.last, h);
              for (int64_t ih = 0; ih < h; ++ih)
                if (read[ih]) {
                  ASSERT_TRUE(ih >= range.first && ih < range.last) << ih;
                }
              // Within the windows' hull: no row beyond them is touched.
              if (range.last > range.first) {
                EXPECT_GE(range.first, r0 * s - p);
                EXPECT_LE(range.last, (r0 + rows - 1) * s - p + kh);
              }
            }
        }
}

TEST(ConvChunkPlan, RejectsEmptySizes) {
  EXPECT_THROW(plan_conv_chunks(0, 1, 1, 1, 1, 1), Error);
  EXPECT_THROW(plan_conv_chunks(1, 1, 1, 1, 1, 0), Error);
}

TEST(ConvAlgoKey, EveryFieldTellsShapesApart) {
  const ConvAlgoKey base{
      2, 3, 7, 5, 4, 3, 3, 1, 1, ops::ConvLayout::kNchw, DType::kF32, Precision::kFp32};
  std::vector<ConvAlgoKey> keys(13, base);
  keys[1].n = 3;
  keys[2].c = 4;
  keys[3].h = 8;
  keys[4].w = 6;
  keys[5].o = 5;
  keys[6].kh = 5;
  keys[7].kw = 5;
  keys[8].stride = 2;
  keys[9].pad = 0;
  keys[10].layout = ops::ConvLayout::kNhwc;
  keys[11].precision = Precision::kTf32;
  keys[12].precision = Precision::kBf16;
  const ops::ConvAlgoKeyHash hash;
  std::unordered_set<size_t> hashes;
  for (size_t i = 0; i < keys.size(); ++i) {
    hashes.insert(hash(keys[i]));
    for (size_t j = 0; j < keys.size(); ++j) EXPECT_EQ(keys[i] == keys[j], i == j) << i << " " << j;
  }
  EXPECT_EQ(hashes.size(), keys.size());  // no collisions among these
  ConvAlgoKey copy = base;
  EXPECT_EQ(hash(copy), hash(base));
  EXPECT_EQ(ops::to_string(base), "conv x (2, 3, 7, 5) nchw w (4, 3, 3, 3) s1 p1 float32 fp32");
}

TEST(ConvBackend, DefaultsToCudnnWhereBuiltAndCanBeSelected) {
  EXPECT_EQ(ops::conv_backend(),
            ops::cudnn_built() ? ops::ConvBackend::kCudnn : ops::ConvBackend::kIm2col);
  ops::set_conv_backend(ops::ConvBackend::kIm2col);
  EXPECT_EQ(ops::conv_backend(), ops::ConvBackend::kIm2col);
  if (ops::cudnn_built()) {
    ops::set_conv_backend(ops::ConvBackend::kCudnn);
    EXPECT_EQ(ops::conv_backend(), ops::ConvBackend::kCudnn);
  } else {
    EXPECT_THROW(ops::set_conv_backend(ops::ConvBackend::kCudnn), Error);
    EXPECT_EQ(ops::conv_algo_stats().lookups, 0);
  }
  EXPECT_STREQ(ops::to_string(ops::ConvBackend::kIm2col), "im2col");
  EXPECT_STREQ(ops::to_string(ops::ConvLayout::kNhwc), "nhwc");
}

TEST(ConvBackend, Im2colCapIsSettable) {
  EXPECT_EQ(ops::im2col_workspace_cap(), kCap);
  ops::set_im2col_workspace_cap(1000);
  EXPECT_EQ(ops::im2col_workspace_cap(), 1000);
  ops::set_im2col_workspace_cap(0);
  EXPECT_EQ(ops::im2col_workspace_cap(), kCap);
  EXPECT_THROW(ops::set_im2col_workspace_cap(-1), Error);
}

TEST(ConvLayoutChecks, NhwcOnTheCpuIsAClearError) {
  Tensor x = Tensor::zeros({1, 5, 5, 3}, DType::kF32), w = Tensor::zeros({4, 3, 3, 3}, DType::kF32);
  Tensor y = Tensor::zeros({1, 3, 3, 4}, DType::kF32), ws;
  try {
    ops::conv2d_forward(x, w, Tensor(), 1, 0, y, ws, ops::ConvLayout::kNhwc);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NHWC convolutions run on the GPU"), std::string::npos)
        << e.what();
  }
  // NHWC shapes are checked as NHWC: channels are the last dimension.
  Tensor w_bad = Tensor::zeros({4, 3, 3, 2}, DType::kF32);
  EXPECT_THROW(ops::conv2d_forward(x, w_bad, Tensor(), 1, 0, y, ws, ops::ConvLayout::kNhwc), Error);
}

}  // namespace
}  // namespace lockstep
