// Finite-difference gradient checks in float64 for every layer and loss, and
// for a whole model. Each check compares the analytic gradient of a scalar
// L = sum(c * y) (c fixed random) with central differences.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/layers/activation.hpp"
#include "core/layers/batchnorm.hpp"
#include "core/layers/dense.hpp"
#include "core/layers/dropout.hpp"
#include "core/layers/flatten.hpp"
#include "core/layers/registry.hpp"
#include "core/layers/residual.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/rng.hpp"

namespace lockstep {
namespace {

constexpr double kEps = 1e-6;
constexpr double kTol = 1e-6;  // atol + rtol * |ref|

Tensor random_tensor(const Shape& shape, uint64_t seed, double min_abs = 0.0) {
  Tensor t = Tensor::empty(shape, DType::kF64);
  Rng rng(seed);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = 0;
    do {
      v = 2.0 * rng.uniform() - 1.0;
    } while (std::abs(v) < min_abs);  // keep ReLU inputs away from the kink at 0
    p[i] = v;
  }
  return t;
}

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += a.data<double>()[i] * b.data<double>()[i];
  return s;
}

void expect_close(double analytic, double numeric, const std::string& what) {
  EXPECT_NEAR(analytic, numeric, kTol + kTol * std::abs(numeric)) << what;
}

// Checks d(sum c*model(x))/dx and /dparams for a model built from `spec`.
void check_model(const std::string& spec, const Shape& sample, int64_t batch, double min_abs = 0.0,
                 Mode mode = Mode::kEval) {
  SCOPED_TRACE(spec);
  Model model(spec, sample, DType::kF64);
  model.init_params(7, InitScheme::kXavier);
  // Non-zero biases so that their gradients are exercised.
  {
    double* p = model.params().data<double>();
    Rng rng(99);
    for (const auto& info : model.layout())
      if (info.init == Init::kZeros)
        for (int64_t i = 0; i < info.numel; ++i) p[info.offset + i] = 0.1 * rng.normal();
  }
  Shape xs{batch};
  xs.insert(xs.end(), sample.begin(), sample.end());
  Tensor x = random_tensor(xs, 1, min_abs);
  RunContext ctx{mode, 1234};
  Tensor y = model.forward(x, ctx);
  Tensor c = random_tensor(y.shape(), 2);
  auto loss = [&]() { return dot(model.forward(x, ctx), c); };

  // Analytic: input gradient through a leading identity-like check is not
  // exposed by Model (layer 0 skips dx), so check layers directly for dx below.
  model.zero_grad();
  model.forward(x, ctx);
  model.backward(c);
  Tensor grads = Tensor::empty(model.grads().shape(), DType::kF64);
  grads.copy_from(model.grads());
  double* p = model.params().data<double>();
  for (int64_t i = 0; i < model.num_params(); ++i) {
    const double saved = p[i];
    p[i] = saved + kEps;
    const double up = loss();
    p[i] = saved - kEps;
    const double down = loss();
    p[i] = saved;
    expect_close(grads.data<double>()[i], (up - down) / (2 * kEps), "param " + std::to_string(i));
  }
}

// Checks dx of a single layer (forward/backward called directly).
void check_layer_dx(Layer& layer, const Shape& sample, int64_t batch, double min_abs = 0.0,
                    Mode mode = Mode::kTrain) {
  SCOPED_TRACE(layer.spec());
  layer.set_input_shape(sample);
  std::vector<Tensor> params, grads;
  for (const ParamSpec& s : layer.param_specs(sample)) {
    params.push_back(random_tensor(s.shape, 5 + params.size()));
    grads.push_back(Tensor::zeros(s.shape, DType::kF64));
  }
  layer.bind(params, grads);
  std::vector<Tensor> buffers;
  for (const ParamSpec& s : layer.buffer_specs(sample)) {
    buffers.push_back(Tensor::zeros(s.shape, DType::kF64));
    if (s.init == Init::kOnes)
      for (int64_t i = 0; i < buffers.back().numel(); ++i) buffers.back().data<double>()[i] = 1.0;
  }
  if (!buffers.empty()) layer.bind_buffers(buffers);
  Shape xs{batch};
  xs.insert(xs.end(), sample.begin(), sample.end());
  Tensor x = random_tensor(xs, 3, min_abs);
  RunContext ctx{mode, 77};
  Saved saved;
  Tensor y = layer.forward(x, ctx, 4, saved);
  Tensor c = random_tensor(y.shape(), 4);
  Tensor dx = layer.backward(saved, c);
  Tensor dx_copy = Tensor::empty(dx.shape(), DType::kF64);
  dx_copy.copy_from(dx);
  double* px = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = px[i];
    Saved s;
    px[i] = v + kEps;
    const double up = dot(layer.forward(x, ctx, 4, s), c);
    px[i] = v - kEps;
    const double down = dot(layer.forward(x, ctx, 4, s), c);
    px[i] = v;
    expect_close(dx_copy.data<double>()[i], (up - down) / (2 * kEps), "x " + std::to_string(i));
  }
}

TEST(GradCheck, DenseParams) {
  check_model("dense(5)", {7}, 3);
}
TEST(GradCheck, DenseNoBiasOnImageInput) {
  check_model("dense(4, nobias)", {2, 3, 3}, 2);
}
TEST(GradCheck, DenseInput) {
  Dense d(5);
  check_layer_dx(d, {6}, 3);
}
TEST(GradCheck, Relu) {
  ActivationLayer l(Activation::kRelu);
  check_layer_dx(l, {9}, 4, /*min_abs=*/1e-3);
}
TEST(GradCheck, Sigmoid) {
  ActivationLayer l(Activation::kSigmoid);
  check_layer_dx(l, {9}, 4);
}
TEST(GradCheck, Tanh) {
  ActivationLayer l(Activation::kTanh);
  check_layer_dx(l, {9}, 4);
}
TEST(GradCheck, DropoutTrainMode) {
  Dropout l(0.4);
  check_layer_dx(l, {20}, 3, 0.0, Mode::kTrain);
}
TEST(GradCheck, Flatten) {
  Flatten l;
  check_layer_dx(l, {2, 3, 2}, 2);
}
TEST(GradCheck, WholeModel) {
  check_model("dense(8), relu, dense(6), tanh, dense(5), sigmoid, dropout(0.3), dense(3)", {4}, 5,
              0.0, Mode::kTrain);
}

TEST(GradCheck, BatchNormDenseTrainMode) {
  check_model("dense(6), batchnorm, tanh, dense(3)", {4}, 5, 0.0, Mode::kTrain);
}
TEST(GradCheck, BatchNormImageTrainMode) {
  check_model("batchnorm(momentum=0.2), flatten, dense(3)", {3, 2, 3}, 4, 0.0, Mode::kTrain);
}
TEST(GradCheck, BatchNormEvalMode) {
  check_model("dense(5), batchnorm, dense(2)", {4}, 3, 0.0, Mode::kEval);
}
TEST(GradCheck, BatchNormInput) {
  BatchNorm l(0.1, 1e-5, false);
  check_layer_dx(l, {3, 2, 2}, 4, 0.0, Mode::kTrain);
}
TEST(GradCheck, ResidualBlock) {
  check_model("dense(6), residual(dense(6), batchnorm, tanh, dense(6)), sigmoid, dense(3)", {4}, 5,
              0.0, Mode::kTrain);
}
TEST(GradCheck, ResidualInput) {
  Residual r([] {
    std::vector<std::unique_ptr<Layer>> body;
    body.push_back(make_layer("dense(5)"));
    body.push_back(make_layer("tanh"));
    body.push_back(make_layer("dense(5)"));
    return body;
  }());
  check_layer_dx(r, {5}, 3);
}

void check_loss(LossKind kind) {
  const int64_t n = 4, k = 5;
  Tensor z = random_tensor({n, k}, 11);
  Tensor targets;
  if (kind == LossKind::kCrossEntropy) {
    targets = Tensor::empty({n}, DType::kI32);
    for (int64_t i = 0; i < n; ++i) targets.data<int32_t>()[i] = static_cast<int32_t>((i * 3) % k);
  } else {
    targets = random_tensor({n, k}, 12);
  }
  Loss loss(kind);
  const int64_t mean_over = 6;  // e.g. the global batch
  Tensor dz = Tensor::empty({n, k}, DType::kF64);
  loss.compute(z, targets, mean_over, &dz);
  double* pz = z.data<double>();
  for (int64_t i = 0; i < z.numel(); ++i) {
    const double v = pz[i];
    pz[i] = v + kEps;
    const double up = loss.compute(z, targets, mean_over, nullptr).loss / mean_over;
    pz[i] = v - kEps;
    const double down = loss.compute(z, targets, mean_over, nullptr).loss / mean_over;
    pz[i] = v;
    expect_close(dz.data<double>()[i], (up - down) / (2 * kEps), "logit " + std::to_string(i));
  }
}

TEST(GradCheck, SoftmaxCrossEntropy) {
  check_loss(LossKind::kCrossEntropy);
}
TEST(GradCheck, Mse) {
  check_loss(LossKind::kMse);
}

}  // namespace
}  // namespace lockstep
