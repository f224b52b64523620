// Segmentation figures with exactly known answers (pixel confusion, pixel
// accuracy, IoU, mean IoU, the weighted loss mean), and the same bits on 1, 2
// and 4 ranks for a U-Net's outputs evaluated batch by batch.

#include <gtest/gtest.h>

#include "comm/mpi.hpp"
#include "core/rng.hpp"
#include "trainer/eval_metrics.hpp"

namespace lockstep::trainer {
namespace {

TEST(SegMetrics, PixelAccuracyIoUAndLossExactly) {
  // 2 samples, 3 classes, 2x2 pixels; logits (2, 3, 2, 2), class j at plane j.
  // Predictions (argmax per pixel)  sample 0: 0 1 / 2 2   sample 1: 1 1 / 0 2
  // Truth                           sample 0: 0 1 / 2 9   sample 1: 1 0 / 0 1   (9: ignored)
  Tensor z = Tensor::zeros({2, 3, 2, 2}, DType::kF32);
  const int pred[2][4] = {{0, 1, 2, 2}, {1, 1, 0, 2}};
  for (int s = 0; s < 2; ++s)
    for (int q = 0; q < 4; ++q) z.data<float>()[(s * 3 + pred[s][q]) * 4 + q] = 1.0f;
  Tensor y = Tensor::empty({2, 2, 2}, DType::kI32);
  const int32_t truth[] = {0, 1, 2, 9, 1, 0, 0, 1};
  std::copy(truth, truth + 8, y.data<int32_t>());
  Tensor loss = Tensor::empty({2}, DType::kF64), weight = Tensor::empty({2}, DType::kF64);
  loss.data<double>()[0] = 3.0;
  loss.data<double>()[1] = 5.0;
  weight.data<double>()[0] = 3.0;
  weight.data<double>()[1] = 1.0;
  EvalMetrics m(LossKind::kCrossEntropy, 3);
  m.set_per_pixel(9);
  m.add(z, y, loss, -1, &weight);
  comm::MpiCommunicator self(MPI_COMM_SELF);
  m.reduce(self);
  // Counted pixels: 7. Right: s0 pixels 0, 1, 2; s1 pixels 0, 2 -> 5.
  EXPECT_EQ(m.samples(), 2);
  EXPECT_EQ(m.pixels(), 7);
  EXPECT_EQ(m.correct(), 5);
  EXPECT_DOUBLE_EQ(m.accuracy(), 5.0 / 7);
  // Confusion (rows truth): 0 -> {0: 2, 1: 1}; 1 -> {1: 2, 2: 1}; 2 -> {2: 1}.
  EXPECT_EQ(m.confusion(), (std::vector<int64_t>{2, 1, 0, 0, 2, 1, 0, 0, 1}));
  EXPECT_DOUBLE_EQ(m.iou(0), 2.0 / 3);  // TP 2, FN 1, FP 0
  EXPECT_DOUBLE_EQ(m.iou(1), 2.0 / 4);  // TP 2, FN 1, FP 1
  EXPECT_DOUBLE_EQ(m.iou(2), 1.0 / 2);  // TP 1, FP 1
  EXPECT_DOUBLE_EQ(m.mean_iou(), (2.0 / 3 + 0.5 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(m.loss(), 8.0 / 4.0);  // weighted sums / weights
  EXPECT_NE(m.report().find("mean IoU 0.5556"), std::string::npos) << m.report();
  const nlohmann::json j = m.to_json();
  EXPECT_EQ(j["task"], "segmentation");
  EXPECT_EQ(j["pixels"], 7);
  EXPECT_EQ(j["ignore_index"], 9);
  EXPECT_EQ(j["classes"][1]["support"], 3);
}

TEST(SegMetrics, ClassAbsentEverywhereHasNoIoU) {
  Tensor z = Tensor::zeros({1, 3, 1, 2}, DType::kF32);  // argmax 0 everywhere
  Tensor y = Tensor::zeros({1, 1, 2}, DType::kI32);     // truth 0 everywhere
  Tensor l = Tensor::zeros({1}, DType::kF64), w = Tensor::zeros({1}, DType::kF64);
  w.data<double>()[0] = 2;
  EvalMetrics m(LossKind::kCrossEntropy, 3);
  m.set_per_pixel(std::nullopt);
  m.add(z, y, l, -1, &w);
  EXPECT_DOUBLE_EQ(m.iou(0), 1.0);
  EXPECT_DOUBLE_EQ(m.iou(2), 0.0);
  EXPECT_DOUBLE_EQ(m.mean_iou(), 1.0);  // classes 1 and 2 occur nowhere
  y.data<int32_t>()[0] = 3;
  EXPECT_THROW(m.add(z, y, l, -1, &w), Error);  // outside the 3 classes
}

// Batches of 3 samples of the global order, dealt round-robin to the ranks:
// the figures have the same bits as one process's.
TEST(SegMetrics, SameBitsOnAnyNumberOfRanks) {
  comm::MpiCommunicator world;
  const char* spec =
      "conv2d(4, 3, padding=1) @e, relu, maxpool2d(2), conv2d(4, 3, padding=1), "
      "upsample(2, mode=bilinear), concat(@e), conv2d(3, 1)";
  Model model(spec, {1, 6, 6});
  model.init_params(3, InitScheme::kHe);
  constexpr int64_t kBatches = 7, kPer = 3;
  auto batch = [](int64_t b, Tensor& x, Tensor& y) {
    x = Tensor::empty({kPer, 1, 6, 6}, DType::kF32);
    y = Tensor::empty({kPer, 6, 6}, DType::kI32);
    Rng rng(hash_keys({5, static_cast<uint64_t>(b)}));
    for (int64_t i = 0; i < x.numel(); ++i) {
      x.data<float>()[i] = static_cast<float>(rng.normal());
      y.data<int32_t>()[i] = rng.uniform() < 0.1 ? -1 : static_cast<int32_t>(rng.below(3));
    }
  };
  auto run = [&](comm::Communicator& comm) {
    Loss loss(LossKind::kCrossEntropy, {-1, {0.5, 1.0, 2.0}});
    EvalMetrics m(LossKind::kCrossEntropy, 3);
    m.set_per_pixel(-1);
    Tensor x, y;
    for (int64_t b = comm.rank(); b < kBatches; b += comm.size()) {
      batch(b, x, y);
      const Tensor out = model.forward(x, RunContext{Mode::kEval, 0});
      loss.compute(out, y, kPer, nullptr);
      m.add(out, y, loss.row_losses(), b, &loss.row_weights());
    }
    m.reduce(comm);
    return m;
  };
  const EvalMetrics dist = run(world);
  if (world.rank() == 0) {
    comm::MpiCommunicator self(MPI_COMM_SELF);
    const EvalMetrics one = run(self);
    EXPECT_EQ(dist.samples(), kBatches * kPer);
    EXPECT_EQ(dist.pixels(), one.pixels());
    EXPECT_EQ(dist.confusion(), one.confusion());
    EXPECT_EQ(dist.loss(), one.loss());  // the same bits
    EXPECT_EQ(dist.mean_iou(), one.mean_iou());
    EXPECT_EQ(dist.to_json().dump(), one.to_json().dump());
  }
  world.barrier();
}

}  // namespace
}  // namespace lockstep::trainer
