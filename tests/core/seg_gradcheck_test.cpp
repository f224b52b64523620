// The encoder-decoder layers (upsample, conv_transpose2d) and named outputs
// (concat, add): finite-difference gradient checks in float64, values worked
// out by hand (PyTorch's results for the same inputs), the same bits on 1 and
// 3 CPU threads, spec round trips and the errors of the named-output syntax.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "core/layers/registry.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/ops/conv_transpose.hpp"
#include "core/ops/resize.hpp"
#include "core/rng.hpp"
#include "core/threads.hpp"

namespace lockstep {
namespace {

constexpr double kEps = 1e-6;
constexpr double kTol = 1e-6;  // atol + rtol * |ref|

Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype = DType::kF64) {
  Tensor t = Tensor::empty(shape, DType::kF64);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = 2.0 * rng.uniform() - 1.0;
  if (dtype == DType::kF64) return t;
  Tensor f = Tensor::empty(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i)
    f.data<float>()[i] = static_cast<float>(t.data<double>()[i]);
  return f;
}

Tensor from_values(const Shape& shape, const std::vector<double>& values) {
  Tensor t = Tensor::empty(shape, DType::kF64);
  std::copy(values.begin(), values.end(), t.data<double>());
  return t;
}

Tensor copy_of(const Tensor& t) {
  Tensor c = Tensor::empty(t.shape(), t.dtype());
  c.copy_from(t);
  return c;
}

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += a.data<double>()[i] * b.data<double>()[i];
  return s;
}

void expect_close(double analytic, double numeric, const std::string& what) {
  EXPECT_NEAR(analytic, numeric, kTol + kTol * std::abs(numeric)) << what;
}

// d(sum c * layer(x)) / dx and / dparams against central differences.
void check_layer(const std::string& spec, const Shape& sample, int64_t batch) {
  SCOPED_TRACE(spec + " on " + shape_str(sample));
  auto layer = make_layer(spec);
  layer->set_input_shape(sample);
  std::vector<Tensor> params, grads;
  for (const ParamSpec& s : layer->param_specs(sample)) {
    params.push_back(random_tensor(s.shape, 5 + params.size()));
    grads.push_back(Tensor::zeros(s.shape, DType::kF64));
  }
  layer->bind(params, grads);
  Shape xs{batch};
  xs.insert(xs.end(), sample.begin(), sample.end());
  Tensor x = random_tensor(xs, 1);
  const RunContext ctx{Mode::kTrain, 77};
  Saved saved;
  const Tensor y = layer->forward(x, ctx, 4, saved);
  const Tensor c = random_tensor(y.shape(), 4);
  const Tensor dx = copy_of(layer->backward(saved, c));
  auto numeric = [&](double* p) {
    const double v = *p;
    Saved s;
    *p = v + kEps;
    const double up = dot(layer->forward(x, ctx, 4, s), c);
    *p = v - kEps;
    const double down = dot(layer->forward(x, ctx, 4, s), c);
    *p = v;
    return (up - down) / (2 * kEps);
  };
  for (int64_t i = 0; i < x.numel(); ++i)
    expect_close(dx.data<double>()[i], numeric(x.data<double>() + i), "x " + std::to_string(i));
  for (size_t k = 0; k < params.size(); ++k)
    for (int64_t i = 0; i < params[k].numel(); ++i)
      expect_close(grads[k].data<double>()[i], numeric(params[k].data<double>() + i),
                   "param " + std::to_string(k) + "[" + std::to_string(i) + "]");
}

TEST(SegGradCheck, Upsample) {
  check_layer("upsample(2)", {2, 3, 4}, 2);
  check_layer("upsample(3)", {1, 2, 3}, 1);
  check_layer("upsample(2, mode=bilinear)", {2, 3, 4}, 2);
  check_layer("upsample(3, mode=bilinear)", {1, 1, 2}, 2);
  check_layer("upsample(2, mode=bilinear)", {1, 1, 1}, 1);
}

TEST(SegGradCheck, ConvTranspose) {
  check_layer("conv_transpose2d(3, 2)", {2, 3, 3}, 2);
  check_layer("conv_transpose2d(2, 3, stride=2, padding=1, output_padding=1)", {3, 3, 2}, 2);
  check_layer("conv_transpose2d(2, 3, stride=1, padding=1, nobias)", {2, 4, 3}, 1);
  check_layer("conv_transpose2d(1, 4, stride=3, padding=2, output_padding=2)", {2, 2, 3}, 2);
}

TEST(SegValues, BilinearMatchesPyTorch) {
  // torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
  const Tensor x = from_values({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor y = Tensor::empty({1, 1, 4, 4}, DType::kF64);
  ops::upsample_forward(x, 2, ops::UpsampleMode::kBilinear, y);
  const std::vector<double> want{1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5,
                                 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(y.data<double>()[i], want[i]) << i;
  ops::upsample_forward(x, 2, ops::UpsampleMode::kNearest, y);
  const std::vector<double> nearest{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  for (size_t i = 0; i < nearest.size(); ++i) EXPECT_EQ(y.data<double>()[i], nearest[i]) << i;
}

TEST(SegValues, ConvTransposeMatchesPyTorch) {
  // ConvTranspose2d(1, 1, 2, stride=2) with weight [[1, 2], [3, 4]], bias 0.5:
  // every input pixel becomes its value times the kernel, plus the bias.
  const Tensor x = from_values({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor w = from_values({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor b = from_values({1}, {0.5});
  Tensor y = Tensor::empty({1, 1, 4, 4}, DType::kF64);
  ops::conv_transpose2d_forward(x, w, b, 2, 0, y);
  const std::vector<double> want{1, 2, 2, 4, 3, 4, 6, 8, 3, 6, 4, 8, 9, 12, 12, 16};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.data<double>()[i], want[i] + 0.5) << i;
  // ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1), weight all ones:
  // (2, 2) -> (4, 4); output (r, c) sums x[ih, iw] over 2 ih - 1 + i = r and
  // 2 iw - 1 + j = c, i, j in [0, 3).
  const Tensor w3 = from_values({1, 1, 3, 3}, std::vector<double>(9, 1.0));
  ops::conv_transpose2d_forward(x, w3, Tensor(), 2, 1, y);
  const std::vector<double> want3{1, 3, 2, 2, 4, 10, 6, 6, 3, 7, 4, 4, 3, 7, 4, 4};
  for (size_t i = 0; i < want3.size(); ++i) EXPECT_EQ(y.data<double>()[i], want3[i]) << i;
}

// The ops give the same bits on 1 and 3 CPU threads (float32).
TEST(SegThreads, SameBitsOnAnyThreadCount) {
  const int before = cpu_threads();
  auto run = [](int threads) {
    set_cpu_threads(threads);
    const Tensor x = random_tensor({5, 3, 6, 7}, 1, DType::kF32);
    const Tensor w = random_tensor({3, 4, 3, 3}, 2, DType::kF32);
    const Tensor dy = random_tensor({5, 4, 13, 15}, 3, DType::kF32);
    const Tensor du = random_tensor({5, 3, 12, 14}, 4, DType::kF32);
    std::vector<Tensor> out{
        Tensor::zeros({5, 4, 13, 15}, DType::kF32), Tensor::zeros({5, 3, 6, 7}, DType::kF32),
        Tensor::zeros({3, 4, 3, 3}, DType::kF32), Tensor::zeros({5, 3, 12, 14}, DType::kF32),
        Tensor::zeros({5, 3, 6, 7}, DType::kF32)};
    ops::conv_transpose2d_forward(x, w, Tensor(), 2, 0, out[0]);
    ops::conv_transpose2d_backward(x, w, dy, 2, 0, &out[1], out[2], nullptr);
    ops::upsample_forward(x, 2, ops::UpsampleMode::kBilinear, out[3]);
    ops::upsample_backward(du, 2, ops::UpsampleMode::kBilinear, out[4]);
    return out;
  };
  const auto one = run(1), three = run(3);
  set_cpu_threads(before);
  for (size_t k = 0; k < one.size(); ++k)
    EXPECT_EQ(0, std::memcmp(one[k].data<float>(), three[k].data<float>(),
                             static_cast<size_t>(one[k].numel()) * sizeof(float)))
        << "output " << k;
}

// A small U-Net: two levels, concat skips, an add skip used by two merges.
const char* kUnet =
    "conv2d(3, 3, padding=1) @enc1, relu, maxpool2d(2), conv2d(4, 3, padding=1) @enc2, tanh, "
    "maxpool2d(2), conv2d(4, 3, padding=1), conv_transpose2d(4, 2), add(@enc2), "
    "concat(@enc2), conv2d(4, 3, padding=1), upsample(2, mode=bilinear), concat(@enc1), "
    "conv2d(2, 1)";

TEST(SegGradCheck, UnetThroughModel) {
  Model model(kUnet, {2, 8, 8}, DType::kF64);
  EXPECT_EQ(model.spec(), kUnet);
  EXPECT_EQ(model.output_shape(), (Shape{2, 8, 8}));
  EXPECT_EQ(model.output_name(0), "enc1");
  EXPECT_EQ(model.source_layer(8), 3);
  EXPECT_EQ(model.source_layer(12), 0);
  model.init_params(7, InitScheme::kXavier);
  {  // non-zero biases so that their gradients are exercised
    double* p = model.params().data<double>();
    Rng rng(99);
    for (const auto& info : model.layout())
      if (info.init == Init::kZeros)
        for (int64_t i = 0; i < info.numel; ++i) p[info.offset + i] = 0.1 * rng.normal();
  }
  const Tensor x = random_tensor({2, 2, 8, 8}, 1);
  const RunContext ctx{Mode::kTrain, 1};
  const Tensor c = random_tensor({2, 2, 8, 8}, 2);
  auto loss = [&]() { return dot(model.forward(x, ctx), c); };
  model.zero_grad();
  model.forward(x, ctx);
  std::vector<size_t> done;
  model.backward(c, [&](size_t i) { done.push_back(i); });
  ASSERT_EQ(done.size(), model.num_layers());
  for (size_t k = 0; k < done.size(); ++k) EXPECT_EQ(done[k], model.num_layers() - 1 - k);
  const Tensor grads = copy_of(model.grads());
  double* p = model.params().data<double>();
  for (int64_t i = 0; i < model.num_params(); ++i) {
    const double v = p[i];
    p[i] = v + kEps;
    const double up = loss();
    p[i] = v - kEps;
    const double down = loss();
    p[i] = v;
    expect_close(grads.data<double>()[i], (up - down) / (2 * kEps), "param " + std::to_string(i));
  }
  // A second backward gives the same gradients (the accumulators restart).
  model.zero_grad();
  model.forward(x, ctx);
  model.backward(c);
  for (int64_t i = 0; i < model.num_params(); ++i)
    EXPECT_EQ(model.grads().data<double>()[i], grads.data<double>()[i]) << i;
}

// Per-pixel cross-entropy with an ignored label and class weights: dlogits
// against central differences of (sum of weighted pixel losses) / mean_over.
TEST(SegGradCheck, PixelCrossEntropy) {
  Loss loss(LossKind::kCrossEntropy, {7, {0.5, 2.0, 1.0}});
  Tensor z = random_tensor({2, 3, 2, 3}, 1);
  Tensor y = Tensor::empty({2, 2, 3}, DType::kI32);
  const int32_t labels[] = {0, 1, 2, 7, 1, 1, 2, 7, 7, 0, 0, 1};
  std::copy(labels, labels + 12, y.data<int32_t>());
  EXPECT_DOUBLE_EQ(loss.local_weight(z, y), 0.5 * 3 + 2.0 * 4 + 1.0 * 2);
  EXPECT_TRUE(loss.weight_varies(z));
  const double mean_over = 5.0;
  Tensor dz = Tensor::empty(z.shape(), DType::kF64);
  const LossSums sums = loss.compute(z, y, mean_over, &dz);
  EXPECT_EQ(sums.rows, 2);
  auto total = [&]() {
    loss.compute(z, y, mean_over, nullptr);
    return (loss.row_losses().data<double>()[0] + loss.row_losses().data<double>()[1]) / mean_over;
  };
  EXPECT_NEAR(sums.loss, 2 * total(), 1e-12);  // N * weighted sum / mean_over
  for (int64_t i = 0; i < z.numel(); ++i) {
    double* p = z.data<double>() + i;
    const double v = *p;
    *p = v + kEps;
    const double up = total();
    *p = v - kEps;
    const double down = total();
    *p = v;
    expect_close(dz.data<double>()[i], (up - down) / (2 * kEps), "logit " + std::to_string(i));
  }
  // Ignored pixels get no gradient; equal logits give log(C) per counted pixel.
  EXPECT_EQ(dz.data<double>()[3], 0.0);
  Tensor flat = Tensor::zeros({1, 3, 1, 2}, DType::kF64);
  Tensor y2 = Tensor::zeros({1, 1, 2}, DType::kI32);
  Loss plain(LossKind::kCrossEntropy);
  plain.compute(flat, y2, 1.0, nullptr);
  EXPECT_NEAR(plain.row_losses().data<double>()[0], 2 * std::log(3.0), 1e-12);
  y2.data<int32_t>()[1] = 3;  // outside the 3 classes
  EXPECT_THROW(plain.compute(flat, y2, 1.0, nullptr), Error);
  // Options need per-pixel outputs; weights one per class.
  Tensor rows = Tensor::zeros({2, 3}, DType::kF64);
  Tensor ids = Tensor::zeros({2}, DType::kI32);
  EXPECT_THROW(loss.compute(rows, ids, 2.0, nullptr), Error);
  Loss two(LossKind::kCrossEntropy, {std::nullopt, {1.0, 2.0}});
  EXPECT_THROW(two.compute(z, y, 1.0, nullptr), Error);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SegSpec, RoundTripAndErrors) {
  const std::pair<const char*, const char*> round[] = {
      {"upsample(2)", "upsample(2)"},
      {"upsample(2, mode=nearest)", "upsample(2)"},
      {"upsample(scale=3, mode=bilinear)", "upsample(3, mode=bilinear)"},
      {"conv_transpose2d(8, 2)", "conv_transpose2d(8, 2)"},
      {"conv_transpose2d(8, 3, 2, 1, 1, nobias)",
       "conv_transpose2d(8, 3, padding=1, output_padding=1, nobias)"},
      {"conv_transpose2d(8, 3, stride=1)", "conv_transpose2d(8, 3, stride=1)"},
      {"concat(@a)", "concat(@a)"},
      {"add(@skip_1)", "add(@skip_1)"},
  };
  for (const auto& [in, canonical] : round) EXPECT_EQ(make_layer(in)->spec(), canonical) << in;
  const std::pair<std::string, std::string> errors[] = {
      {"conv2d(2, 3, padding=1), concat(@x)",
       "model layer 1 'concat(@x)': no earlier layer is named @x"},
      {"concat(@a), conv2d(2, 3, padding=1) @a", "no earlier layer is named @a"},
      {"conv2d(2, 1) @a, relu @a",
       "model layer 1 'relu @a': the name @a is already given to "
       "layer 0"},
      {"conv2d(2, 1) @a, maxpool2d(2), concat(@a)",
       "concat(@a): expected the input and @a to be images (C, H, W) of the same H and W, got "
       "input (2, 2, 2) and @a (2, 4, 4)"},
      {"conv2d(2, 1) @a, conv2d(3, 1), add(@a)",
       "add(@a): expected @a of the input's shape (3, 4, 4), got (2, 4, 4)"},
      {"conv2d(2, 1) @1a", "expected 'layer @name' with a name of letters"},
      {"residual(relu @a)", "a name (@name) may follow only a layer at the top level"},
      {"conv2d(2, 1) @a, residual(add(@a))", "only a layer at the top level"},
      {"concat(a)", "expected one named output as argument, e.g. concat(@enc1)"},
      {"upsample(2, mode=cubic)", "expected mode=nearest or mode=bilinear, got mode=cubic"},
      {"conv_transpose2d(2, 3, output_padding=2)", "output_padding in [0, stride 2)"},
  };
  for (const auto& [spec, message] : errors) {
    const std::string what = error_of([&] { Model m(spec, {2, 4, 4}); });
    EXPECT_NE(what.find(message), std::string::npos) << spec << " -> " << what;
  }
}

}  // namespace
}  // namespace lockstep
