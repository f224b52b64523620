// Convolution and pooling layers in float64: forward against a direct
// reference, backward against central finite differences of L = sum(c * y)
// (c fixed random) for the input and every parameter, max-pool ties, a small
// CNN through Model, shape errors and spec round trips.
//
// Kinks: max-pool inputs are a shuffled grid (values 2/numel apart, far more
// than the 1e-6 step), so no finite difference crosses a change of argmax;
// ties are tested separately with exact values.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "core/layers/conv2d.hpp"
#include "core/layers/global_avg_pool.hpp"
#include "core/layers/pool2d.hpp"
#include "core/layers/registry.hpp"
#include "core/model.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/pool.hpp"
#include "core/rng.hpp"

namespace lockstep {
namespace {

constexpr double kEps = 1e-6;
constexpr double kTol = 1e-6;  // atol + rtol * |ref|

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::kF64);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = 2.0 * rng.uniform() - 1.0;
  return t;
}

// Distinct values in [-1, 1), at least 2/numel apart, in random order.
Tensor distinct_tensor(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::kF64);
  const int64_t n = t.numel();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[static_cast<size_t>(i)],
              order[static_cast<size_t>(rng.below(static_cast<uint64_t>(i + 1)))]);
  for (int64_t i = 0; i < n; ++i)
    t.data<double>()[i] =
        2.0 * static_cast<double>(order[static_cast<size_t>(i)]) / static_cast<double>(n) - 1.0;
  return t;
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

// Checks a single layer: dx and every parameter gradient against finite
// differences. Gradients start non-zero to check that backward accumulates
// into them; a second backward without dx must accumulate the same again.
void check_layer(Layer& layer, const Shape& sample, const Tensor& x) {
  SCOPED_TRACE(layer.spec() + " on " + shape_str(sample));
  layer.set_input_shape(sample);
  std::vector<Tensor> params, grads, grads0;
  for (const ParamSpec& s : layer.param_specs(sample)) {
    params.push_back(random_tensor(s.shape, 5 + params.size()));
    grads.push_back(random_tensor(s.shape, 50 + grads.size()));
    grads0.push_back(copy_of(grads.back()));
  }
  layer.bind(params, grads);
  const RunContext ctx{Mode::kTrain, 77};
  Saved saved;
  const Tensor y = layer.forward(x, ctx, 4, saved);
  const Tensor c = random_tensor(y.shape(), 4);
  const Tensor dx = copy_of(layer.backward(saved, c));
  auto loss = [&]() {
    Saved s;
    return dot(layer.forward(x, ctx, 4, s), c);
  };
  auto numeric = [&](double* p) {
    const double v = *p;
    *p = v + kEps;
    const double up = loss();
    *p = v - kEps;
    const double down = loss();
    *p = v;
    return (up - down) / (2 * kEps);
  };
  for (int64_t i = 0; i < x.numel(); ++i)
    expect_close(dx.data<double>()[i], numeric(x.data<double>() + i), "x " + std::to_string(i));
  for (size_t k = 0; k < params.size(); ++k) {
    for (int64_t i = 0; i < params[k].numel(); ++i) {
      const double analytic = grads[k].data<double>()[i] - grads0[k].data<double>()[i];
      expect_close(analytic, numeric(params[k].data<double>() + i),
                   "param " + std::to_string(k) + "[" + std::to_string(i) + "]");
    }
  }
  // need_dx = false: no dx, the same parameter gradients accumulated again.
  std::vector<Tensor> once;
  for (size_t k = 0; k < grads.size(); ++k) once.push_back(copy_of(grads[k]));
  Saved s2;
  layer.forward(x, ctx, 4, s2);
  const Tensor none = layer.backward(s2, c, /*need_dx=*/false);
  EXPECT_FALSE(none.defined());
  for (size_t k = 0; k < grads.size(); ++k)
    for (int64_t i = 0; i < grads[k].numel(); ++i) {
      const double step = once[k].data<double>()[i] - grads0[k].data<double>()[i];
      EXPECT_NEAR(grads[k].data<double>()[i], once[k].data<double>()[i] + step, 1e-12);
    }
}

Shape batch_of(int64_t n, const Shape& sample) {
  Shape s{n};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

// ---- Convolution --------------------------------------------------------------------

// y[n,o,i,j] = b[o] + sum_{c,u,v} w[o,c,u,v] x[n,c,i*s-p+u,j*s-p+v], written out.
Tensor direct_conv(const Tensor& x, const Tensor& w, const Tensor* b, int64_t s, int64_t p) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t o = w.dim(0), k = w.dim(2);
  const int64_t oh = (h + 2 * p - k) / s + 1, ow = (wd + 2 * p - k) / s + 1;
  Tensor y = Tensor::zeros({n, o, oh, ow}, DType::kF64);
  const double* px = x.data<double>();
  const double* pw = w.data<double>();
  double* py = y.data<double>();
  for (int64_t a = 0; a < n; ++a)
    for (int64_t q = 0; q < o; ++q)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double sum = b ? b->data<double>()[q] : 0.0;
          for (int64_t r = 0; r < c; ++r)
            for (int64_t u = 0; u < k; ++u)
              for (int64_t v = 0; v < k; ++v) {
                const int64_t ih = i * s - p + u, iw = j * s - p + v;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                sum += pw[((q * c + r) * k + u) * k + v] * px[((a * c + r) * h + ih) * wd + iw];
              }
          py[((a * o + q) * oh + i) * ow + j] = sum;
        }
  return y;
}

TEST(ConvGradCheck, ForwardMatchesDirectConvolution) {
  for (int64_t stride : {1, 2})
    for (int64_t pad : {0, 1, 2}) {
      SCOPED_TRACE("stride " + std::to_string(stride) + " padding " + std::to_string(pad));
      const Tensor x = random_tensor({2, 3, 7, 5}, 1), w = random_tensor({4, 3, 3, 3}, 2);
      const Tensor b = random_tensor({4}, 3);
      const Tensor ref = direct_conv(x, w, &b, stride, pad);
      Tensor y = Tensor::empty(ref.shape(), DType::kF64), ws;
      ops::conv2d_forward(x, w, b, stride, pad, y, ws);
      for (int64_t i = 0; i < y.numel(); ++i)
        EXPECT_NEAR(y.data<double>()[i], ref.data<double>()[i], 1e-12) << i;
      const Tensor ref_nobias = direct_conv(x, w, nullptr, stride, pad);
      ops::conv2d_forward(x, w, Tensor(), stride, pad, y, ws);
      for (int64_t i = 0; i < y.numel(); ++i)
        EXPECT_NEAR(y.data<double>()[i], ref_nobias.data<double>()[i], 1e-12) << i;
    }
}

TEST(ConvGradCheck, Conv2dInputAndParameters) {
  const Shape sample{3, 7, 5};
  for (int64_t stride : {1, 2})
    for (int64_t pad : {0, 1})
      for (bool bias : {true, false}) {
        Conv2D layer(3, 3, stride, pad, bias);
        check_layer(layer, sample, random_tensor(batch_of(2, sample), 9));
      }
}

TEST(ConvGradCheck, Conv2dEvenKernelLargePadding) {
  Conv2D layer(2, 2, 3, 2);
  check_layer(layer, {2, 4, 6}, random_tensor({3, 2, 4, 6}, 10));
}

// Planes of 1024+ outputs run one sample per GEMM on the CPU (no transposes;
// see "Note: conv chunks" in core/ops/conv.cpp); the shapes above batch them.
TEST(ConvGradCheck, Conv2dLargePlanesOneSamplePerChunk) {
  for (int64_t pad : {0, 1}) {
    Conv2D layer(2, 3, 1, pad);
    check_layer(layer, {1, 34, 35}, random_tensor({2, 1, 34, 35}, 14));
  }
}

TEST(ConvGradCheck, ParamSpecs) {
  Conv2D layer(8, 3);
  const auto specs = layer.param_specs({3, 10, 10});
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].shape, (Shape{8, 3, 3, 3}));
  EXPECT_EQ(specs[0].init, Init::kHe);
  EXPECT_EQ(specs[0].fan_in, 27);
  EXPECT_EQ(specs[0].fan_out, 72);
  EXPECT_EQ(specs[1].shape, (Shape{8}));
  EXPECT_EQ(specs[1].init, Init::kZeros);
  EXPECT_EQ(Conv2D(8, 3, 1, 0, false).param_specs({3, 10, 10}).size(), 1u);
  EXPECT_EQ(layer.output_shape({3, 10, 10}), (Shape{8, 8, 8}));
  EXPECT_EQ(Conv2D(8, 3, 2, 1).output_shape({3, 10, 9}), (Shape{8, 5, 5}));
}

// ---- Pooling -------------------------------------------------------------------------

TEST(ConvGradCheck, MaxPool) {
  const Shape sample{3, 7, 5};
  const struct { int64_t k, s, p; } cases[] = {{2, 2, 0}, {3, 1, 0}, {3, 2, 1}, {2, 1, 1}};
  for (const auto& c : cases) {
    Pool2D layer(PoolKind::kMax, c.k, c.s, c.p);
    check_layer(layer, sample, distinct_tensor(batch_of(2, sample), 11));
  }
}

TEST(ConvGradCheck, AvgPool) {
  const Shape sample{3, 7, 5};
  const struct { int64_t k, s, p; } cases[] = {{2, 2, 0}, {3, 1, 0}, {3, 2, 1}, {2, 1, 1}};
  for (const auto& c : cases) {
    Pool2D layer(PoolKind::kAvg, c.k, c.s, c.p);
    check_layer(layer, sample, random_tensor(batch_of(2, sample), 12));
  }
}

TEST(ConvGradCheck, AvgPoolCountsPaddingAsZeros) {
  Pool2D layer(PoolKind::kAvg, 2, 2, 1);
  layer.set_input_shape({1, 2, 2});
  Saved saved;
  const Tensor y = layer.forward(from_values({1, 1, 2, 2}, {4, 8, 12, 16}), RunContext{}, 0, saved);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.data<double>()[0], 1.0);  // 4 / (2*2): the window's other three are padding
  EXPECT_EQ(y.data<double>()[3], 4.0);
}

TEST(ConvGradCheck, GlobalAvgPool) {
  GlobalAvgPool layer;
  check_layer(layer, {4, 3, 5}, random_tensor({2, 4, 3, 5}, 13));
  layer.set_input_shape({2, 1, 2});
  Saved saved;
  const Tensor y = layer.forward(from_values({1, 2, 1, 2}, {1, 2, 10, 30}), RunContext{}, 0, saved);
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_EQ(y.data<double>()[0], 1.5);
  EXPECT_EQ(y.data<double>()[1], 20.0);
}

TEST(ConvGradCheck, MaxPoolTiesGoToTheFirstMaximum) {
  // Two 2x2 windows: {1, 3 | 3, 0} has its max 3 twice, {2, 2 | 2, 1} has 2 three times.
  Pool2D layer(PoolKind::kMax, 2);
  layer.set_input_shape({1, 2, 4});
  Saved saved;
  const Tensor y =
      layer.forward(from_values({1, 1, 2, 4}, {1, 3, 2, 2, 3, 0, 2, 1}), RunContext{}, 0, saved);
  EXPECT_EQ(y.data<double>()[0], 3.0);
  EXPECT_EQ(y.data<double>()[1], 2.0);
  const Tensor dx = layer.backward(saved, from_values({1, 1, 1, 2}, {10, 20}));
  const std::vector<double> want{0, 10, 20, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(dx.data<double>()[i], want[i]) << i;

  // Overlapping windows on a constant plane: each window picks its top-left.
  Pool2D overlap(PoolKind::kMax, 2, 1);
  overlap.set_input_shape({1, 3, 3});
  Saved s2;
  overlap.forward(from_values({1, 1, 3, 3}, std::vector<double>(9, 5.0)), RunContext{}, 0, s2);
  const Tensor dx2 = overlap.backward(s2, from_values({1, 1, 2, 2}, {1, 2, 3, 4}));
  const std::vector<double> want2{1, 2, 0, 3, 4, 0, 0, 0, 0};
  for (int64_t i = 0; i < 9; ++i) EXPECT_EQ(dx2.data<double>()[i], want2[i]) << i;
}

TEST(ConvGradCheck, MaxPoolPaddingNeverWins) {
  Pool2D layer(PoolKind::kMax, 2, 2, 1);
  layer.set_input_shape({1, 2, 2});
  Saved saved;
  const Tensor y =
      layer.forward(from_values({1, 1, 2, 2}, {-4, -3, -2, -1}), RunContext{}, 0, saved);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(y.data<double>()[i], -4.0 + static_cast<double>(i));
  EXPECT_EQ(saved.get<Pool2DSaved>().index.dtype(), DType::kI32);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(saved.get<Pool2DSaved>().index.data<int32_t>()[i], i);
}

TEST(ConvGradCheck, MaxPoolPropagatesNan) {
  Pool2D layer(PoolKind::kMax, 2);
  layer.set_input_shape({1, 2, 2});
  Saved saved;
  const double nan = std::nan("");
  const Tensor y =
      layer.forward(from_values({1, 1, 2, 2}, {1, nan, 5, nan}), RunContext{}, 0, saved);
  EXPECT_TRUE(std::isnan(y.data<double>()[0]));
  EXPECT_EQ(saved.get<Pool2DSaved>().index.data<int32_t>()[0], 1);  // the first NaN
}

TEST(ConvGradCheck, MaxPoolMatchesABruteForceScanOnTiesAndNans) {
  // Values from {0, 1, 2, 3} (many ties) and a few NaNs; odd planes (edges
  // dropped); 2x2/2 (the CPU's fast path) and 3x3/2 with padding (the general
  // loop) against a direct scan: the first maximum wins, and the first NaN.
  const Shape shape{3, 4, 9, 7};
  Tensor x = Tensor::empty(shape, DType::kF64);
  Rng rng(21);
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data<double>()[i] = rng.below(40) == 0 ? std::nan("") : static_cast<double>(rng.below(4));
  for (const auto& [k, st, p] : {std::tuple<int64_t, int64_t, int64_t>{2, 2, 0}, {3, 2, 1}}) {
    const int64_t oh = ops::conv_out_size(9, k, st, p), ow = ops::conv_out_size(7, k, st, p);
    Tensor y = Tensor::empty({3, 4, oh, ow}, DType::kF64);
    Tensor index = Tensor::empty({3, 4, oh, ow}, DType::kI32);
    ops::maxpool2d_forward(x, k, st, p, y, index);
    for (int64_t plane = 0; plane < 12; ++plane)
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t c = 0; c < ow; ++c) {
          int64_t best = -1;
          bool nan = false;
          for (int64_t i = r * st - p; i < r * st - p + k; ++i)
            for (int64_t j = c * st - p; j < c * st - p + k; ++j) {
              if (i < 0 || i >= 9 || j < 0 || j >= 7 || nan) continue;
              const double v = x.data<double>()[plane * 63 + i * 7 + j];
              if (std::isnan(v)) {
                best = i * 7 + j;
                nan = true;
              } else if (best < 0 || v > x.data<double>()[plane * 63 + best]) {
                best = i * 7 + j;
              }
            }
          const int64_t o = (plane * oh + r) * ow + c;
          ASSERT_EQ(index.data<int32_t>()[o], best)
              << "k " << k << " plane " << plane << " (" << r << ", " << c << ")";
          const double want = x.data<double>()[plane * 63 + best];
          if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(y.data<double>()[o]));
          } else {
            EXPECT_EQ(y.data<double>()[o], want);
          }
        }
  }
}

// ---- Whole model -----------------------------------------------------------------------

TEST(ConvGradCheck, SmallCnnThroughModel) {
  const std::string spec =
      "conv2d(4, 3, padding=1), relu, maxpool2d(2), conv2d(5, 3, stride=2), tanh, "
      "global_avg_pool, dense(3)";
  Model model(spec, {2, 9, 9}, DType::kF64);
  EXPECT_EQ(model.spec(), spec);
  EXPECT_EQ(model.output_shape(), (Shape{3}));
  model.init_params(7, InitScheme::kXavier);
  {  // non-zero biases so that their gradients are exercised
    double* p = model.params().data<double>();
    Rng rng(99);
    for (const auto& info : model.layout())
      if (info.init == Init::kZeros)
        for (int64_t i = 0; i < info.numel; ++i) p[info.offset + i] = 0.1 * rng.normal();
  }
  const Tensor x = distinct_tensor({2, 2, 9, 9}, 1);
  const RunContext ctx{Mode::kTrain, 1};
  const Tensor c = random_tensor({2, 3}, 2);
  auto loss = [&]() { return dot(model.forward(x, ctx), c); };
  model.zero_grad();
  model.forward(x, ctx);
  model.backward(c);
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
}

// ---- Specs and errors --------------------------------------------------------------------

TEST(ConvSpec, RoundTrip) {
  const std::pair<const char*, const char*> cases[] = {
      {"conv2d(32, 3)", "conv2d(32, 3)"},
      {"conv2d(8, 5, stride=2, padding=2, nobias)", "conv2d(8, 5, stride=2, padding=2, nobias)"},
      {"conv2d(32, 3, stride=1, padding=0, bias)", "conv2d(32, 3)"},
      {"conv2d(out_channels=4, kernel=3, padding = 1)", "conv2d(4, 3, padding=1)"},
      {"conv2d(16, 3, 2, 1)", "conv2d(16, 3, stride=2, padding=1)"},
      {"maxpool2d(2)", "maxpool2d(2)"},
      {"maxpool2d(2, 2)", "maxpool2d(2)"},
      {"maxpool2d(3, stride=2, padding=1)", "maxpool2d(3, stride=2, padding=1)"},
      {"avgpool2d(2, stride=1)", "avgpool2d(2, stride=1)"},
      {"global_avg_pool", "global_avg_pool"},
      {"gap", "global_avg_pool"},
  };
  for (const auto& [in, canonical] : cases) {
    EXPECT_EQ(make_layer(in)->spec(), canonical) << in;
    EXPECT_EQ(make_layer(canonical)->spec(), canonical) << canonical;
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ConvSpec, ShapeErrorsNameLayerInputAndProblem) {
  EXPECT_NE(error_of([] {
              Model m("conv2d(32, 5)", {1, 3, 3});
            })
                .find("conv2d(32, 5): input (1, 3, 3) is too small: kernel 5 needs at least 5x5 "
                      "after padding 0"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Model m("conv2d(8, 3)", {784});
            }).find("conv2d(8, 3): expected an input (C, H, W), got (784,)"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Model m("conv2d(4, 3), maxpool2d(4)", {1, 4, 4});
            }).find("maxpool2d(4): input (4, 2, 2) is too small"),
            std::string::npos);
  EXPECT_NE(error_of([] { Model m("global_avg_pool", {10}); }).find("expected an input (C, H, W)"),
            std::string::npos);
  // A padded input that fits is fine: 3x3 with padding 1 takes a 5x5 kernel.
  EXPECT_EQ(Model("conv2d(2, 5, padding=1)", {1, 3, 3}).output_shape(), (Shape{2, 1, 1}));
}

TEST(ConvSpec, ParserErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"conv2d(8)", "missing argument kernel"},
      {"conv2d(8, 3, dilation=2)", "unknown argument 'dilation'"},
      {"conv2d(8, x)", "expected a non-negative integer for kernel, got 'x'"},
      {"conv2d(0, 3)", "conv2d: expected out_channels"},
      {"conv2d(8, 3, stride=1, stride=2)", "'stride' given twice"},
      {"conv2d(8, 3, 1, 0, 5)", "unexpected argument '5'"},
      {"maxpool2d(3, padding=2)", "padding between 0 and half the kernel"},
      {"maxpool2d(2, stride=0)", "stride >= 1"},
      {"avgpool2d(2, nobias)", "expected a non-negative integer for stride"},
      {"gap(2)", "expected no arguments"},
      {"convolution(8, 3)", "conv2d(out_channels, kernel"},
  };
  for (const auto& [spec, message] : cases) {
    const std::string what = error_of([&] { make_layer(spec); });
    EXPECT_NE(what.find(message), std::string::npos) << spec << " -> " << what;
    EXPECT_NE(what.find(spec), std::string::npos) << spec << " -> " << what;
  }
}

TEST(ConvOps, ArgumentChecks) {
  const Tensor x = random_tensor({2, 3, 5, 5}, 1), w = random_tensor({4, 3, 3, 3}, 2);
  Tensor ws, y = Tensor::empty({2, 4, 3, 4}, DType::kF64);
  EXPECT_THROW(ops::conv2d_forward(x, w, Tensor(), 1, 0, y, ws), Error);  // y should be 3x3
  const Tensor w2 = random_tensor({4, 2, 3, 3}, 2);
  Tensor y2 = Tensor::empty({2, 4, 3, 3}, DType::kF64);
  EXPECT_THROW(ops::conv2d_forward(x, w2, Tensor(), 1, 0, y2, ws), Error);  // channels
  Tensor index = Tensor::empty({2, 3, 2, 2}, DType::kF64);                  // must be int32
  Tensor yp = Tensor::empty({2, 3, 2, 2}, DType::kF64);
  EXPECT_THROW(ops::maxpool2d_forward(x, 2, 2, 0, yp, index), Error);
  EXPECT_EQ(ops::conv_out_size(28, 3, 1, 0), 26);
  EXPECT_EQ(ops::conv_out_size(7, 3, 2, 1), 4);
  EXPECT_EQ(ops::conv_out_size(2, 5, 1, 1), 0);
}

}  // namespace
}  // namespace lockstep
