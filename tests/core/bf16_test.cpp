// bf16 mixed precision on CPU ranks, where it is emulated (see "Note: bf16
// mixed precision", core/model.cpp): the rounding op, each layer with
// parameters, BatchNorm, and the model's master weights and compute copy.
// The CUDA versions are compared with this emulation in cuda_bf16_test.cpp.
//
// Tolerances, per op (Σ|terms|: the sum of the absolute values of the terms
// making up an element, got by running the float32 op on absolute values):
// - round_bf16: bit for bit half::from_bf16(half::to_bf16(x)) (core/half.hpp).
// - dense, conv2d, conv_transpose2d forward and dx:
//   against float32 on the unrounded values, 2^-7 (Σ|terms| + |ref|): input,
//   weight and output each rounded once (2^-9 relative each);
//   against the bf16 semantics computed in float64 (rounded operands, exact
//   sums, the result rounded once), one bfloat16 ulp (2^-7 |ref|) plus
//   1e-6 Σ|terms|: float32 sums may land on the other side of a rounding tie.
// - their weight and bias gradients (not rounded: float32 accumulation):
//   against float32, 2^-7 Σ|terms|; against the semantics, 1e-5 Σ|terms|.
// - BatchNorm (float32 statistics): against float32 BatchNorm on the same
//   bfloat16 input, one output rounding, 2^-8 |ref| + 1e-6.
// - whole models (MLP, CNN with BatchNorm and a residual block, a U-Net with
//   named outputs) forward and backward: relative L2 difference from fp32
//   below 2e-2 for the output and the gradient slab.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/layers/registry.hpp"
#include "core/model.hpp"
#include "core/ops/elementwise.hpp"
#include "core/optimizer.hpp"
#include "core/rng.hpp"
#include "tests/core/bf16_test_util.hpp"

namespace lockstep {
namespace {

using test::bf16;
using test::bits;
using test::from_bits;
using test::is_bf16;
using test::PrecisionScope;
using test::rel_l2;
using test::rounded;

Tensor random_f32(const Shape& shape, uint64_t seed, float scale = 1.0f) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = scale * static_cast<float>(2.0 * rng.uniform() - 1.0);
  return t;
}

Tensor copy_of(const Tensor& t) {
  Tensor c = Tensor::empty(t.shape(), t.dtype());
  c.copy_from(t);
  return c;
}

Tensor as_f64(const Tensor& t) {
  Tensor d = Tensor::empty(t.shape(), DType::kF64);
  for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = t.data<float>()[i];
  return d;
}

Tensor absolute(const Tensor& t) {
  Tensor a = copy_of(t);
  for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = std::abs(a.data<float>()[i]);
  return a;
}

// ------------------------------------------------------------------ rounding

TEST(RoundBf16, MatchesHalfBitForBit) {
  // Random bit patterns: every exponent, subnormals, infinities and NaNs.
  constexpr int64_t n = 1 << 18;
  Tensor x = Tensor::empty({n}, DType::kF32);
  Rng rng(3);
  for (int64_t i = 0; i < n; ++i)
    x.data<float>()[i] = from_bits(static_cast<uint32_t>(rng.next_u64()));
  Tensor y = Tensor::empty({n}, DType::kF32);
  ops::round_bf16(x, y);
  int64_t nans = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x.data<float>()[i];
    ASSERT_EQ(bits(y.data<float>()[i]), bits(bf16(v))) << "x bits " << std::hex << bits(v);
    nans += std::isnan(v);
  }
  EXPECT_GT(nans, 0) << "the patterns include NaNs";
  ops::round_bf16(x);  // in place
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(bits(x.data<float>()[i]), bits(y.data<float>()[i]));
}

TEST(RoundBf16, TiesToEvenNaNAndInfinity) {
  const float inf = std::numeric_limits<float>::infinity();
  const struct {
    float in;
    float out;
    const char* what;
  } cases[] = {
      {1.0f + 0x1p-8f, 1.0f, "tie between 1 and 1+2^-7: to the even 1"},
      {1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-6f, "tie between 1+2^-7 and 1+2^-6: to the even 1+2^-6"},
      {1.0f + 0x1p-8f + 0x1p-23f, 1.0f + 0x1p-7f, "just above a tie: up"},
      {1.0f + 0x1p-8f - 0x1p-23f, 1.0f, "just below a tie: down"},
      {-(1.0f + 0x1p-8f), -1.0f, "negative tie: to the even"},
      {-(1.0f + 3 * 0x1p-8f), -(1.0f + 0x1p-6f), "negative tie: to the even"},
      {from_bits(0x00030000u), from_bits(0x00030000u), "a bfloat16 subnormal stays"},
      {from_bits(0x00008000u), 0.0f, "subnormal tie: to the even 0"},
      {from_bits(0x00018000u), from_bits(0x00020000u), "subnormal tie: to the even"},
      {from_bits(0x00000001u), 0.0f, "float32's least subnormal: 0"},
      {std::numeric_limits<float>::max(), inf, "beyond bfloat16's largest: infinity"},
      {from_bits(0x7f7f0000u), from_bits(0x7f7f0000u), "bfloat16's largest stays"},
      {inf, inf, "infinity stays"},
      {-inf, -inf, "-infinity stays"},
  };
  for (const auto& c : cases) {
    Tensor t = Tensor::empty({1}, DType::kF32);
    t.data<float>()[0] = c.in;
    ops::round_bf16(t);
    EXPECT_EQ(bits(t.data<float>()[0]), bits(c.out)) << c.what;
  }
  // Signed zero, and NaNs of every kind stay NaN (a signalling NaN whose
  // payload lies in the dropped bits must not turn into infinity).
  Tensor z = Tensor::empty({5}, DType::kF32);
  const uint32_t in[] = {0x80000000u, 0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu};
  for (int i = 0; i < 5; ++i) z.data<float>()[i] = from_bits(in[i]);
  ops::round_bf16(z);
  EXPECT_EQ(bits(z.data<float>()[0]), 0x80000000u) << "-0 keeps its sign";
  for (int i = 1; i < 5; ++i) {
    EXPECT_TRUE(std::isnan(z.data<float>()[i])) << "NaN bits " << std::hex << in[i];
    EXPECT_EQ(bits(z.data<float>()[i]) >> 31, in[i] >> 31) << "NaN keeps its sign";
  }
}

TEST(RoundBf16, ChecksItsArguments) {
  Tensor d = Tensor::zeros({3}, DType::kF64);
  EXPECT_THROW(ops::round_bf16(d), Error);
  Tensor a = Tensor::zeros({3}, DType::kF32), b = Tensor::zeros({4}, DType::kF32);
  EXPECT_THROW(ops::round_bf16(a, b), Error);
}

// -------------------------------------------------------- layers under bf16

// One layer alone, its parameters in a slab bound as a model binds them.
struct Rig {
  std::unique_ptr<Layer> layer;
  Tensor params, grads;
  Saved saved;
  Rig(const std::string& spec, const Shape& sample, const Tensor& values) {
    layer = make_layer(spec);
    layer->set_input_shape(sample);
    params = copy_of(values);
    grads = Tensor::zeros(values.shape(), values.dtype());
    std::vector<Tensor> p, g;
    int64_t at = 0;
    for (const ParamSpec& s : layer->param_specs(sample)) {
      p.push_back(params.view(at, s.shape));
      g.push_back(grads.view(at, s.shape));
      at += shape_numel(s.shape);
    }
    EXPECT_EQ(at, values.numel());
    layer->bind(p, g);
  }
  // Forward on x, backward with dy: {y, dx}; the parameter gradients in `grads`.
  std::pair<Tensor, Tensor> run(const Tensor& x, const Tensor& dy) {
    Tensor y = copy_of(layer->forward(x, RunContext(Mode::kTrain), 0, saved));
    Tensor dx = copy_of(layer->backward(saved, dy, true));
    return {y, dx};
  }
};

int64_t param_count(const std::string& spec, const Shape& sample) {
  auto layer = make_layer(spec);
  layer->set_input_shape(sample);
  int64_t n = 0;
  for (const ParamSpec& s : layer->param_specs(sample)) n += shape_numel(s.shape);
  return n;
}

// |got - ref| <= rel * (mag + mag_ref * |ref|) + atol, element by element.
void expect_within(const Tensor& got, const Tensor& ref, const Tensor& mag, double rel,
                   double ref_rel, double atol, const std::string& what) {
  ASSERT_EQ(got.numel(), ref.numel()) << what;
  int bad = 0;
  for (int64_t i = 0; i < got.numel() && bad < 5; ++i) {
    const double g = got.data<float>()[i];
    const double r = ref.dtype() == DType::kF64 ? ref.data<double>()[i] : ref.data<float>()[i];
    const double m = mag.data<float>()[i];
    if (!(std::abs(g - r) <= rel * m + ref_rel * std::abs(r) + atol)) {
      ADD_FAILURE() << what << "[" << i << "]: got " << g << ", reference " << r
                    << ", sum of |terms| " << m;
      ++bad;
    }
  }
}

// The bf16 semantics in float64: the layer run on the rounded operands with
// exact-enough sums; its outputs rounded once to bfloat16 (as float32).
Tensor round_f64(const Tensor& t) {
  Tensor r = Tensor::empty(t.shape(), DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i)
    r.data<float>()[i] = bf16(static_cast<float>(t.data<double>()[i]));
  return r;
}

void check_layer(const std::string& spec, const Shape& sample, int64_t batch) {
  SCOPED_TRACE(spec);
  Shape in{batch};
  in.insert(in.end(), sample.begin(), sample.end());
  const Tensor w = random_f32({param_count(spec, sample)}, 1, 0.5f);
  const Tensor x = random_f32(in, 2);
  Shape out{batch};
  {
    auto l = make_layer(spec);
    const Shape o = l->output_shape(sample);
    out.insert(out.end(), o.begin(), o.end());
  }
  const Tensor dy = random_f32(out, 3);

  // float32 on the unrounded values, and the sums of |terms|.
  Rig fp(spec, sample, w);
  const auto [y32, dx32] = fp.run(x, dy);
  Rig ab(spec, sample, absolute(w));
  const auto [ymag, dxmag] = ab.run(absolute(x), absolute(dy));
  // The semantics: float64 on the rounded operands.
  Rig sem(spec, sample, as_f64(rounded(w)));
  const auto [ysem64, dxsem64] = sem.run(as_f64(rounded(x)), as_f64(rounded(dy)));
  const Tensor ysem = round_f64(ysem64), dxsem = round_f64(dxsem64);

  // bf16: the weights as the model's compute copy holds them, operands rounded
  // by whoever made them; the layer rounds what it hands on.
  PrecisionScope scope(Precision::kBf16);
  Rig bf(spec, sample, rounded(w));
  const auto [y16, dx16] = bf.run(rounded(x), rounded(dy));

  for (int64_t i = 0; i < y16.numel(); ++i)
    ASSERT_TRUE(is_bf16(y16.data<float>()[i])) << "output " << i << " is not a bfloat16 value";
  for (int64_t i = 0; i < dx16.numel(); ++i)
    ASSERT_TRUE(is_bf16(dx16.data<float>()[i])) << "dx " << i << " is not a bfloat16 value";
  constexpr double k7 = 0x1p-7;
  expect_within(y16, y32, ymag, k7, k7, 0, "forward vs fp32");
  expect_within(dx16, dx32, dxmag, k7, k7, 0, "dx vs fp32");
  expect_within(bf.grads, fp.grads, ab.grads, k7, 0, 0, "parameter gradients vs fp32");
  expect_within(y16, ysem, ymag, 1e-6, k7, 0, "forward vs the bf16 semantics");
  expect_within(dx16, dxsem, dxmag, 1e-6, k7, 0, "dx vs the bf16 semantics");
  expect_within(bf.grads, sem.grads, ab.grads, 1e-5, 0, 0,
                "parameter gradients vs the bf16 semantics");
  // The gradients really are float32 (most are not bfloat16 values), and
  // bf16 really rounded (the outputs differ from float32's).
  int64_t wide = 0;
  for (int64_t i = 0; i < bf.grads.numel(); ++i) wide += !is_bf16(bf.grads.data<float>()[i]);
  EXPECT_GT(wide, bf.grads.numel() / 2) << "parameter gradients look rounded";
  double diff = 0;
  for (int64_t i = 0; i < y16.numel(); ++i)
    diff =
        std::max(diff, static_cast<double>(std::abs(y16.data<float>()[i] - y32.data<float>()[i])));
  EXPECT_GT(diff, 0.0);
}

TEST(Bf16Layers, Dense) {
  check_layer("dense(7)", {33}, 5);
  check_layer("dense(4, nobias)", {2, 3, 3}, 3);
}

TEST(Bf16Layers, Conv2D) {
  check_layer("conv2d(4, 3, padding=1)", {3, 6, 5}, 2);
  check_layer("conv2d(5, 3, stride=2)", {2, 7, 7}, 3);
}

TEST(Bf16Layers, ConvTranspose2D) {
  check_layer("conv_transpose2d(3, 2, stride=2)", {4, 3, 4}, 2);
}

// BatchNorm computes in float32 from its bfloat16 input; only its output is
// rounded, and its scale and shift are used as stored.
TEST(Bf16Layers, BatchNormComputesInFloat32) {
  const Shape sample{3, 4, 4};
  const Tensor x = rounded(random_f32({4, 3, 4, 4}, 5, 2.0f));
  const Tensor dy = rounded(random_f32({4, 3, 4, 4}, 6));
  Tensor w = Tensor::empty({6}, DType::kF32);
  for (int i = 0; i < 6; ++i) w.data<float>()[i] = 1.0f + 1e-3f * static_cast<float>(i + 1);
  Rig fp("batchnorm", sample, w);
  Tensor buffers = Tensor::zeros({6}, DType::kF32);
  fp.layer->bind_buffers(std::vector<Tensor>{buffers.view(0, {3}), buffers.view(3, {3})});
  const auto [y32, dx32] = fp.run(x, dy);
  PrecisionScope scope(Precision::kBf16);
  Rig bf("batchnorm", sample, w);
  Tensor buffers16 = Tensor::zeros({6}, DType::kF32);
  bf.layer->bind_buffers(std::vector<Tensor>{buffers16.view(0, {3}), buffers16.view(3, {3})});
  const auto [y16, dx16] = bf.run(x, dy);
  const Tensor zero = Tensor::zeros(y32.shape(), DType::kF32);
  expect_within(y16, y32, zero, 0, 0x1p-8, 1e-6, "batchnorm forward");
  expect_within(dx16, dx32, zero, 0, 0x1p-8, 1e-6, "batchnorm dx");
  expect_within(bf.grads, fp.grads, Tensor::zeros({6}, DType::kF32), 0, 1e-6, 1e-6,
                "batchnorm scale and shift gradients");
  for (int i = 0; i < 6; ++i) EXPECT_EQ(buffers16.data<float>()[i], buffers.data<float>()[i]);
}

// ------------------------------------------------------------------- models

TEST(Bf16Model, MasterWeightsStayFloat32AndTheComputeCopyIsRounded) {
  Model m("dense(6), batchnorm, relu, dense(3)", {5});
  m.init_params(4, InitScheme::kHe);
  // Scale and shift away from bfloat16 values, so that rounding would show.
  for (const ParamInfo& p : m.layout())
    if (p.keep_fp32)
      for (int64_t i = 0; i < p.numel; ++i) m.params().data<float>()[p.offset + i] += 1e-3f;
  const Tensor master = copy_of(m.params());
  const Tensor x = random_f32({4, 5}, 7);
  const Tensor x_before = copy_of(x);
  PrecisionScope scope(Precision::kBf16);
  const Tensor y = copy_of(m.forward(x, RunContext(Mode::kTrain)));
  const Tensor dy = random_f32(y.shape(), 8);
  const Tensor dy_before = copy_of(dy);
  m.backward(dy);
  for (int64_t i = 0; i < m.num_params(); ++i)
    ASSERT_EQ(bits(m.params().data<float>()[i]), bits(master.data<float>()[i])) << "master " << i;
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_EQ(bits(x.data<float>()[i]), bits(x_before.data<float>()[i])) << "input written";
  for (int64_t i = 0; i < dy.numel(); ++i)
    ASSERT_EQ(bits(dy.data<float>()[i]), bits(dy_before.data<float>()[i])) << "dy written";
  for (int64_t i = 0; i < y.numel(); ++i) ASSERT_TRUE(is_bf16(y.data<float>()[i])) << i;
  // The compute copy: the dense weights and biases rounded; BatchNorm's
  // scale and shift are kept float32 and read from the master slab.
  const Tensor& copy = m.compute_params();
  ASSERT_EQ(copy.numel(), m.num_params());
  int kept = 0;
  for (const ParamInfo& p : m.layout()) {
    if (p.keep_fp32) {
      ++kept;
      continue;
    }
    for (int64_t i = p.offset; i < p.offset + p.numel; ++i)
      ASSERT_EQ(bits(copy.data<float>()[i]), bits(bf16(master.data<float>()[i]))) << p.name;
  }
  EXPECT_EQ(kept, 2) << "batchnorm's gamma and beta are keep_fp32";
  // BatchNorm's scale reached the output unrounded: with it rounded the
  // output differs (the scale's 1e-3 offsets are far above float32 noise).
  Model r("dense(6), batchnorm, relu, dense(3)", {5});
  r.params().copy_from(master);
  for (const ParamInfo& p : r.layout())
    if (p.keep_fp32) {
      Tensor v = r.params().view(p.offset, {p.numel});
      ops::round_bf16(v);
    }
  const Tensor y_rounded_bn = copy_of(r.forward(x, RunContext(Mode::kTrain)));
  double diff = 0;
  for (int64_t i = 0; i < y.numel(); ++i)
    diff += std::abs(y.data<float>()[i] - y_rounded_bn.data<float>()[i]);
  EXPECT_GT(diff, 0.0);
}

// A step smaller than bfloat16's resolution at the weight still moves the
// float32 master; the compute copy follows once the master has moved by a
// bfloat16 step. Exact arithmetic: w = 1, steps of 2^-13, bfloat16's spacing
// below 1 is 2^-8.
TEST(Bf16Model, StepsBelowBf16ResolutionMoveTheMasterWeights) {
  PrecisionScope scope(Precision::kBf16);
  Model m("dense(1, nobias)", {1});
  m.params().data<float>()[0] = 1.0f;
  Sgd sgd(m.params(), {});
  Tensor x = Tensor::empty({1, 1}, DType::kF32), dy = Tensor::empty({1, 1}, DType::kF32);
  x.data<float>()[0] = 1.0f;
  dy.data<float>()[0] = 0x1p-13f;  // dW = dy x = 2^-13
  for (int step = 1; step <= 64; ++step) {
    m.zero_grad();
    const float y = m.forward(x, RunContext(Mode::kTrain)).data<float>()[0];
    // The compute copy is the master rounded: 1 until the master reaches 1 - 2^-9 - ...
    EXPECT_EQ(y, bf16(1.0f - static_cast<float>(step - 1) * 0x1p-13f)) << "step " << step;
    m.backward(dy);
    EXPECT_EQ(m.grads().data<float>()[0], 0x1p-13f);
    sgd.step(m.params(), m.grads(), 1.0);
    EXPECT_EQ(m.params().data<float>()[0], 1.0f - static_cast<float>(step) * 0x1p-13f)
        << "the master moved by 2^-13 at step " << step;
  }
  EXPECT_EQ(m.params().data<float>()[0], 1.0f - 0x1p-7f);
  EXPECT_EQ(m.forward(x, RunContext(Mode::kTrain)).data<float>()[0], 1.0f - 0x1p-7f);
}

// Back to fp32 in the same process: the layers read the master slab again,
// bit for bit like a model that never ran bf16.
TEST(Bf16Model, Fp32AfterBf16ReadsTheMasterAgain) {
  const char* spec = "conv2d(3, 3, padding=1), relu, dense(4)";
  Model a(spec, {2, 5, 5}), b(spec, {2, 5, 5});
  a.init_params(9, InitScheme::kHe);
  b.init_params(9, InitScheme::kHe);
  const Tensor x = random_f32({3, 2, 5, 5}, 10);
  Tensor y16;
  {
    PrecisionScope scope(Precision::kBf16);
    y16 = copy_of(a.forward(x, RunContext(Mode::kTrain)));
  }
  const Tensor ya = copy_of(a.forward(x, RunContext(Mode::kTrain)));
  const Tensor yb = copy_of(b.forward(x, RunContext(Mode::kTrain)));
  double diff16 = 0;
  for (int64_t i = 0; i < ya.numel(); ++i) {
    ASSERT_EQ(bits(ya.data<float>()[i]), bits(yb.data<float>()[i])) << i;
    diff16 += std::abs(ya.data<float>()[i] - y16.data<float>()[i]);
  }
  EXPECT_GT(diff16, 0.0);
}

TEST(Bf16Model, NeedsAFloat32Model) {
  Model m("dense(2)", {3}, DType::kF64);
  PrecisionScope scope(Precision::kBf16);
  const Tensor x = Tensor::zeros({1, 3}, DType::kF64);
  EXPECT_THROW(m.forward(x, RunContext(Mode::kTrain)), Error);
}

// Whole models, composites and named outputs included: bf16 follows fp32
// closely (see the tolerances above) and every gradient reaches the slab.
TEST(Bf16Model, WholeModelsFollowFp32) {
  const struct {
    const char* spec;
    Shape sample;
  } models[] = {
      {"dense(32), relu, dropout(0.1), dense(16), tanh, dense(5)", {12}},
      {"conv2d(4, 3, padding=1), batchnorm, relu, maxpool2d(2), "
       "residual(conv2d(4, 3, padding=1), batchnorm, relu), global_avg_pool, dense(3)",
       {2, 8, 8}},
      {"conv2d(4, 3, padding=1) @e, maxpool2d(2), conv2d(8, 3, padding=1), upsample(2), "
       "concat(@e), conv2d(3, 1)",
       {1, 8, 8}},
  };
  for (const auto& c : models) {
    SCOPED_TRACE(c.spec);
    Model a(c.spec, c.sample), b(c.spec, c.sample);
    a.init_params(12, InitScheme::kHe);
    b.init_params(12, InitScheme::kHe);
    Shape in{6};
    in.insert(in.end(), c.sample.begin(), c.sample.end());
    const Tensor x = random_f32(in, 13);
    const Tensor y32 = copy_of(a.forward(x, RunContext(Mode::kTrain, 5)));
    const Tensor dy = random_f32(y32.shape(), 14, 0.1f);
    a.backward(dy);
    PrecisionScope scope(Precision::kBf16);
    const Tensor y16 = copy_of(b.forward(x, RunContext(Mode::kTrain, 5)));
    b.backward(dy);
    const double ry = rel_l2(y16, y32), rg = rel_l2(b.grads(), a.grads());
    std::printf("[ info ] %s: relative L2 difference from fp32: output %.3g, gradients %.3g\n",
                c.spec, ry, rg);
    EXPECT_LT(ry, 2e-2);
    EXPECT_LT(rg, 2e-2);
    EXPECT_GT(ry, 0.0);
  }
}

}  // namespace
}  // namespace lockstep
