// Evaluation figures with exactly known answers.

#include <gtest/gtest.h>

#include "comm/mpi.hpp"
#include "trainer/eval_metrics.hpp"

namespace lockstep::trainer {
namespace {

Tensor matrix(int64_t n, int64_t k, std::vector<float> v) {
  Tensor t = Tensor::empty({n, k}, DType::kF32);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

TEST(EvalMetrics, ClassificationConfusionPrecisionRecallTopK) {
  // 3 classes, 5 samples. Predictions (argmax): 0, 1, 1, 2, 0; truth: 0, 1, 0, 2, 2.
  const Tensor z = matrix(5, 3, {5, 1, 0, 0, 3, 1, 1, 2, 0, 0, 1, 4, 2, 0, 1});
  Tensor y = Tensor::empty({5}, DType::kI32);
  const int32_t truth[] = {0, 1, 0, 2, 2};
  std::copy(truth, truth + 5, y.data<int32_t>());
  Tensor l = Tensor::empty({5}, DType::kF64);
  for (int i = 0; i < 5; ++i) l.data<double>()[i] = i;
  EvalMetrics m(LossKind::kCrossEntropy, 3, 2);
  m.add(z, y, l);
  comm::MpiCommunicator self(MPI_COMM_SELF);
  m.reduce(self);
  EXPECT_EQ(m.samples(), 5);
  EXPECT_DOUBLE_EQ(m.loss(), 2.0);
  EXPECT_DOUBLE_EQ(m.accuracy(), 3.0 / 5);
  EXPECT_EQ(m.confusion(), (std::vector<int64_t>{1, 1, 0, 0, 1, 0, 1, 0, 1}));
  EXPECT_DOUBLE_EQ(m.precision(0), 0.5);  // predicted 0: samples 0 and 4
  EXPECT_DOUBLE_EQ(m.recall(0), 0.5);     // true 0: samples 0 and 2
  EXPECT_DOUBLE_EQ(m.precision(1), 0.5);
  EXPECT_DOUBLE_EQ(m.recall(1), 1.0);
  EXPECT_NEAR(m.f1(1), 2 * 0.5 / 1.5, 1e-12);
  // Top-2: sample 2 (truth 0 is second), sample 4 (truth 2 is second) -> all 5.
  EXPECT_DOUBLE_EQ(m.top_k(), 1.0);
  EXPECT_NE(m.report().find("confusion matrix"), std::string::npos);
}

// Top-k with a known fraction: 4 classes, 5 samples; a label is in the top k
// when fewer than k outputs beat it, a tie counting against the label when the
// other class id is smaller (the first-maximum rule of the accuracy).
//   sample  outputs       label  outputs that beat it     top-1 top-2 top-3
//   0       3, 2, 1, 0    1      class 0                  no    yes   yes
//   1       3, 2, 1, 0    2      classes 0, 1             no    no    yes
//   2       0, 5, 5, 1    2      class 1 (a tie)          no    yes   yes
//   3       5, 5, 5, 0    2      classes 0, 1 (ties)      no    no    yes
//   4       1, 1, 1, 1    0      none                     yes   yes   yes
TEST(EvalMetrics, TopKCountsOnlyLabelsAmongTheKLargestOutputs) {
  const Tensor z = matrix(5, 4, {3, 2, 1, 0, 3, 2, 1, 0, 0, 5, 5, 1, 5, 5, 5, 0, 1, 1, 1, 1});
  Tensor y = Tensor::empty({5}, DType::kI32);
  const int32_t truth[] = {1, 2, 2, 2, 0};
  std::copy(truth, truth + 5, y.data<int32_t>());
  const Tensor l = Tensor::zeros({5}, DType::kF64);
  comm::MpiCommunicator self(MPI_COMM_SELF);
  const double expected[] = {1.0 / 5, 3.0 / 5, 5.0 / 5};
  for (int64_t k = 1; k <= 3; ++k) {
    SCOPED_TRACE(k);
    EvalMetrics m(LossKind::kCrossEntropy, 4, k);
    m.add(z, y, l);
    m.reduce(self);
    EXPECT_DOUBLE_EQ(m.top_k(), expected[k - 1]);
    EXPECT_DOUBLE_EQ(m.accuracy(), 1.0 / 5);  // top-1 is the accuracy
  }
}

TEST(EvalMetrics, RegressionMseMaeR2) {
  const Tensor out = matrix(4, 1, {1, 2, 3, 5});
  const Tensor t = matrix(4, 1, {1, 2, 3, 4});
  Tensor l = Tensor::zeros({4}, DType::kF64);
  EvalMetrics m(LossKind::kMse, 1);
  m.add(out, t, l);
  comm::MpiCommunicator self(MPI_COMM_SELF);
  m.reduce(self);
  EXPECT_DOUBLE_EQ(m.mse(), 0.25);
  EXPECT_DOUBLE_EQ(m.mae(), 0.25);
  EXPECT_DOUBLE_EQ(m.r2(), 1.0 - 1.0 / 5.0);  // SST = sum (t - 2.5)^2 = 5
}

}  // namespace
}  // namespace lockstep::trainer
