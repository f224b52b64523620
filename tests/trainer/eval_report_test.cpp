// The evaluation report for people and for scripts: class names in the
// table, and the JSON report (`lockstep eval --json`) with exactly known
// figures.

#include <gtest/gtest.h>

#include "comm/mpi.hpp"
#include "trainer/eval_metrics.hpp"

namespace lockstep::trainer {
namespace {

// 3 classes, 5 samples. Predictions (argmax): 0, 1, 1, 2, 0; truth: 0, 1, 0, 2, 2.
EvalMetrics three_classes() {
  Tensor z = Tensor::empty({5, 3}, DType::kF32);
  const float logits[] = {5, 1, 0, 0, 3, 1, 1, 2, 0, 0, 1, 4, 2, 0, 1};
  std::copy(logits, logits + 15, z.data<float>());
  Tensor y = Tensor::empty({5}, DType::kI32);
  const int32_t truth[] = {0, 1, 0, 2, 2};
  std::copy(truth, truth + 5, y.data<int32_t>());
  Tensor l = Tensor::empty({5}, DType::kF64);
  for (int i = 0; i < 5; ++i) l.data<double>()[i] = i;
  EvalMetrics m(LossKind::kCrossEntropy, 3, 2);
  m.add(z, y, l);
  comm::MpiCommunicator self(MPI_COMM_SELF);
  m.reduce(self);
  return m;
}

TEST(EvalReport, JsonHoldsTheFiguresAndClassNames) {
  const EvalMetrics m = three_classes();
  const nlohmann::json j = m.to_json({"ant", "bee", "cat"});
  EXPECT_EQ(j["task"], "classification");
  EXPECT_EQ(j["samples"], 5);
  EXPECT_DOUBLE_EQ(j["loss"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.6);
  EXPECT_EQ(j["correct"], 3);
  EXPECT_EQ(j["top_k"]["k"], 2);
  EXPECT_EQ(j["class_names"], (std::vector<std::string>{"ant", "bee", "cat"}));
  EXPECT_EQ(j["confusion"], (std::vector<std::vector<int64_t>>{{1, 1, 0}, {0, 1, 0}, {1, 0, 1}}));
  ASSERT_EQ(j["classes"].size(), 3u);
  EXPECT_EQ(j["classes"][1]["id"], 1);
  EXPECT_EQ(j["classes"][1]["name"], "bee");
  EXPECT_DOUBLE_EQ(j["classes"][1]["precision"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["classes"][1]["recall"].get<double>(), 1.0);
  EXPECT_EQ(j["classes"][2]["support"], 2);
  double f1 = 0;
  for (int c = 0; c < 3; ++c) f1 += m.f1(c);
  EXPECT_DOUBLE_EQ(j["macro_f1"].get<double>(), f1 / 3);
}

TEST(EvalReport, WithoutOneNamePerClassClassesAreIds) {
  const EvalMetrics m = three_classes();
  for (const auto& names : {std::vector<std::string>{}, std::vector<std::string>{"ant", "bee"}}) {
    const nlohmann::json j = m.to_json(names);
    EXPECT_TRUE(j["class_names"].is_null());
    EXPECT_EQ(j["classes"][2]["name"], "2");
  }
  EXPECT_NE(m.report({"ant", "bee", "cat"}).find("\nbee "), std::string::npos);
}

TEST(EvalReport, RegressionJson) {
  Tensor out = Tensor::empty({4, 1}, DType::kF32);
  Tensor t = Tensor::empty({4, 1}, DType::kF32);
  const float o[] = {1, 2, 3, 5}, target[] = {1, 2, 3, 4};
  std::copy(o, o + 4, out.data<float>());
  std::copy(target, target + 4, t.data<float>());
  EvalMetrics m(LossKind::kMse, 1);
  m.add(out, t, Tensor::zeros({4}, DType::kF64));
  comm::MpiCommunicator self(MPI_COMM_SELF);
  m.reduce(self);
  const nlohmann::json j = m.to_json();
  EXPECT_EQ(j["task"], "regression");
  EXPECT_EQ(j["samples"], 4);
  EXPECT_DOUBLE_EQ(j["mse"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["mae"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["r2"].get<double>(), 0.8);
  EXPECT_FALSE(j.contains("classes"));
}

}  // namespace
}  // namespace lockstep::trainer
