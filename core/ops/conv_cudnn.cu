// The cuDNN backend of the GPU convolutions (ops/conv_cudnn.hpp), on the
// current stream. ops/conv.cpp is the specification; ops/conv.cu (im2col +
// cuBLAS) the fallback and the reference the tests compare against.
//
// Note: cuDNN convolutions.
// - API: cuDNN's legacy convolution API (descriptors, cudnnConvolution*).
//   cuDNN 9 marks it deprecated in favour of its graph API, but it is
//   complete there, and it is what every framework's conv path still maps to.
// - Algorithms: chosen once per ConvAlgoKey (ops/conv_plan.hpp: shapes,
//   stride, padding, layout, dtype, precision) and direction (forward,
//   backward data, backward filter), then cached with the shape's descriptors
//   (conv_algo_stats counts lookups and searches). The choice comes from
//   cudnnGet*Algorithm_v7, cuDNN's heuristics, not from cudnnFind*, which
//   times every algorithm on the GPU: the heuristics give the same answer on
//   every run, rank and restart for one GPU model and cuDNN version, so which
//   algorithm (and so which rounding) a run gets never depends on timing
//   noise; resuming from a checkpoint is promised bit-identical, and a
//   benchmark-chosen algorithm could differ after the restart. The first
//   candidate in cuDNN's order is taken that (a) cuDNN supports for the shape,
//   (b) is deterministic (CUDNN_DETERMINISTIC: backward data ALGO_0 and
//   backward filter ALGO_0/ALGO_3 sum with atomics, in another order every
//   run), and (c) needs at most kAlgoWorkspaceCap of workspace.
// - Math: fp32 runs with CUDNN_FMA_MATH, not CUDNN_DEFAULT_MATH, which on
//   Ampere and later GPUs lets cuDNN use TF32 tensor cores for float data (an
//   fp32 run would be TF32 in all but name). tf32 runs with
//   CUDNN_TENSOR_OP_MATH on float data. bf16 runs on bfloat16 x, w, y with
//   float compute (CUDNN_DATA_FLOAT in the convolution descriptor) and tensor
//   cores. Before each call the descriptor gets the math type the chosen
//   algorithm reported, as cuDNN asks, except in fp32, where it stays FMA
//   whatever the heuristics listed (as PyTorch does without allow_tf32).
// - bf16: the float32 inputs are converted to bfloat16 copies in the shared
//   workspace (round to nearest even, core/half.hpp) and the bfloat16 result
//   back to float32: y holds bf16 values (plus the float32 bias), dx too; dW
//   comes out of cuDNN as bf16 (as under PyTorch's autocast) and is added to
//   the float32 acc_dw; db is summed from the float32 dy.
// - Memory: descriptors are made once per shape; the algorithm workspace and
//   the bf16 copies come from the GPU's shared workspace
//   (core/cuda/workspace.hpp), so a step at a fixed shape allocates nothing.
// - Bias: forward adds it with our kernel after the convolution; backward
//   sums it with cudnnConvolutionBackwardBias (beta 1, float32): a reduction
//   without atomics, not among the routines cuDNN documents as
//   non-reproducible.
// - Sizes: the legacy descriptors take int dimensions and strides; a tensor
//   over 2^31 - 1 elements is refused with a message (use a smaller batch).

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "core/cuda/cudnn.hpp"
#include "core/cuda/workspace.hpp"
#include "core/half.hpp"
#include "core/ops/conv_cudnn.hpp"
#include "core/ops/conv_plan.hpp"
#include "core/ops/kernels.cuh"
#include "core/precision.hpp"

namespace lockstep::ops {
namespace cuda {

using namespace detail;  // NOLINT: the shared kernel helpers (ops/kernels.cuh)
using lockstep::cuda::cudnn;

namespace {

// The most algorithm workspace one convolution may take. The implicit-GEMM
// and direct algorithms need little or none; FFT and Winograd variants that
// want more than this are passed over for the next candidate.
constexpr size_t kAlgoWorkspaceCap = size_t{256} << 20;

// bf16 copies and the algorithm workspace are carved out of the shared
// workspace at this alignment.
constexpr size_t kAlign = 256;

size_t aligned(size_t bytes) {
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

enum class Direction { kForward, kBackwardData, kBackwardFilter };

struct Choice {
  bool chosen = false;
  int algo = 0;  // the cudnnConvolution*Algo_t of the direction
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

// The descriptors of one ConvAlgoKey and its algorithm per direction.
struct Plan {
  lockstep::cuda::TensorDesc x, y;  // data type of the computation (float or bfloat16)
  lockstep::cuda::FilterDesc w;
  lockstep::cuda::ConvDesc conv;
  Choice forward, backward_data, backward_filter;
};

struct Cache {
  std::unordered_map<ConvAlgoKey, std::unique_ptr<Plan>, ConvAlgoKeyHash> plans;
  ConvAlgoStats stats;
};

Cache& cache() {
  static Cache c;  // one GPU per process (core/cuda/device.cu)
  return c;
}

bool bf16(Precision p) {
  return p == Precision::kBf16;
}

int to_int(int64_t v, const ConvAlgoKey& key, const char* what) {
  LOCKSTEP_CHECK(v <= INT_MAX, "cuDNN convolution " << to_string(key) << ": " << what << " " << v
                                                    << " is over cuDNN's int limit " << INT_MAX
                                                    << "; use a smaller batch or the im2col "
                                                       "backend (ops::set_conv_backend)");
  return static_cast<int>(v);
}

void set_tensor(cudnnTensorDescriptor_t d, const ConvAlgoKey& key, cudnnDataType_t type, int64_t n,
                int64_t c, int64_t h, int64_t w) {
  to_int(n * c * h * w, key, "tensor size");
  const cudnnTensorFormat_t format =
      key.layout == ConvLayout::kNhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  LOCKSTEP_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, format, type, static_cast<int>(n),
                                                  static_cast<int>(c), static_cast<int>(h),
                                                  static_cast<int>(w)));
}

std::unique_ptr<Plan> make_plan(const ConvAlgoKey& k, const ConvProblem& p) {
  auto plan = std::make_unique<Plan>();
  const cudnnDataType_t type = bf16(k.precision) ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  plan->x = lockstep::cuda::make_tensor_desc();
  plan->y = lockstep::cuda::make_tensor_desc();
  plan->w = lockstep::cuda::make_filter_desc();
  plan->conv = lockstep::cuda::make_conv_desc();
  set_tensor(plan->x.get(), k, type, p.n, p.c, p.h, p.w);
  set_tensor(plan->y.get(), k, type, p.n, p.o, p.oh, p.ow);
  to_int(p.o * p.c * p.kh * p.kw, k, "filter size");
  LOCKSTEP_CUDNN_CHECK(cudnnSetFilter4dDescriptor(
      plan->w.get(), type, k.layout == ConvLayout::kNhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
      static_cast<int>(p.o), static_cast<int>(p.c), static_cast<int>(p.kh),
      static_cast<int>(p.kw)));
  LOCKSTEP_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
      plan->conv.get(), to_int(p.pad, k, "padding"), to_int(p.pad, k, "padding"),
      to_int(p.stride, k, "stride"), to_int(p.stride, k, "stride"), 1, 1, CUDNN_CROSS_CORRELATION,
      CUDNN_DATA_FLOAT));
  // Our output size and cuDNN's must agree (a transposed convolution relies
  // on it for its output padding).
  int n = 0, c = 0, h = 0, w = 0;
  LOCKSTEP_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(plan->conv.get(), plan->x.get(),
                                                             plan->w.get(), &n, &c, &h, &w));
  LOCKSTEP_CHECK(n == p.n && c == p.o && h == p.oh && w == p.ow,
                 "cuDNN convolution " << to_string(k) << ": cuDNN computes an output (" << n << ", "
                                      << c << ", " << h << ", " << w << "), expected (" << p.n
                                      << ", " << p.o << ", " << p.oh << ", " << p.ow << ")");
  return plan;
}

cudnnMathType_t requested_math(Precision p) {
  return p == Precision::kFp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
}

// The first acceptable candidate ("Note: cuDNN convolutions"), or -1.
template <class Perf>
int pick(const Perf* perf, int count) {
  for (int i = 0; i < count; ++i) {
    const Perf& c = perf[i];
    if (c.status == CUDNN_STATUS_SUCCESS && c.determinism == CUDNN_DETERMINISTIC &&
        c.memory <= kAlgoWorkspaceCap)
      return i;
  }
  return -1;
}

const char* direction_name(Direction d) {
  switch (d) {
    case Direction::kForward:
      return "forward";
    case Direction::kBackwardData:
      return "backward data";
    case Direction::kBackwardFilter:
      return "backward filter";
  }
  return "?";
}

// Asks cuDNN's heuristics for the direction's candidates and keeps the first
// acceptable one, with its workspace size under its math type.
Choice search(cudnnHandle_t h, Plan& plan, const ConvAlgoKey& key, Direction d) {
  LOCKSTEP_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), requested_math(key.precision)));
  Choice ch;
  int count = 0, at = -1;
  switch (d) {
    case Direction::kForward: {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      LOCKSTEP_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
          h, plan.x.get(), plan.w.get(), plan.conv.get(), plan.y.get(),
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
      at = pick(perf, count);
      if (at >= 0) ch = {true, static_cast<int>(perf[at].algo), perf[at].mathType, perf[at].memory};
      break;
    }
    case Direction::kBackwardData: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      LOCKSTEP_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
          h, plan.w.get(), plan.y.get(), plan.conv.get(), plan.x.get(),
          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf));
      at = pick(perf, count);
      if (at >= 0) ch = {true, static_cast<int>(perf[at].algo), perf[at].mathType, perf[at].memory};
      break;
    }
    case Direction::kBackwardFilter: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      LOCKSTEP_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, plan.x.get(), plan.y.get(), plan.conv.get(), plan.w.get(),
          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf));
      at = pick(perf, count);
      if (at >= 0) ch = {true, static_cast<int>(perf[at].algo), perf[at].mathType, perf[at].memory};
      break;
    }
  }
  LOCKSTEP_CHECK(ch.chosen, "cuDNN convolution " << to_string(key) << ": none of cuDNN's " << count
                                                 << " " << direction_name(d)
                                                 << " algorithms is deterministic, within "
                                                 << (kAlgoWorkspaceCap >> 20)
                                                 << " MiB of workspace; select the im2col "
                                                    "backend (ops::set_conv_backend)");
  if (key.precision == Precision::kFp32) ch.math = CUDNN_FMA_MATH;
  LOCKSTEP_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), ch.math));
  // The workspace under the math type it will run with (the larger of that
  // and what the heuristics listed).
  size_t ws = 0;
  switch (d) {
    case Direction::kForward:
      LOCKSTEP_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
          h, plan.x.get(), plan.w.get(), plan.conv.get(), plan.y.get(),
          static_cast<cudnnConvolutionFwdAlgo_t>(ch.algo), &ws));
      break;
    case Direction::kBackwardData:
      LOCKSTEP_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
          h, plan.w.get(), plan.y.get(), plan.conv.get(), plan.x.get(),
          static_cast<cudnnConvolutionBwdDataAlgo_t>(ch.algo), &ws));
      break;
    case Direction::kBackwardFilter:
      LOCKSTEP_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
          h, plan.x.get(), plan.y.get(), plan.conv.get(), plan.w.get(),
          static_cast<cudnnConvolutionBwdFilterAlgo_t>(ch.algo), &ws));
      break;
  }
  ch.workspace = std::max(ch.workspace, ws);
  return ch;
}

ConvAlgoKey key_of(const ConvProblem& p) {
  return {p.n,  p.c,      p.h,   p.w,      p.o,         p.kh,
          p.kw, p.stride, p.pad, p.layout, DType::kF32, compute_precision()};
}

// The plan of `p` with the direction's algorithm chosen, and its convolution
// descriptor set to that algorithm's math type.
struct Ready {
  cudnnHandle_t handle;
  Plan& plan;
  const Choice& choice;
  bool bf16;
};

Ready prepare(const ConvProblem& p, Direction d) {
  const ConvAlgoKey key = key_of(p);
  Cache& c = cache();
  const cudnnHandle_t h = cudnn();
  auto it = c.plans.find(key);
  if (it == c.plans.end()) {
    it = c.plans.emplace(key, make_plan(key, p)).first;
    ++c.stats.plans;
  }
  Plan& plan = *it->second;
  Choice& choice = d == Direction::kForward        ? plan.forward
                   : d == Direction::kBackwardData ? plan.backward_data
                                                   : plan.backward_filter;
  ++c.stats.lookups;
  if (!choice.chosen) {
    choice = search(h, plan, key, d);
    ++c.stats.searches;
  }
  LOCKSTEP_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), choice.math));
  return {h, plan, choice, bf16(key.precision)};
}

// ---- kernels -------------------------------------------------------------

__global__ void to_bf16_kernel(const float* in, uint16_t* out, int64_t n) {
  LOCKSTEP_GRID_LOOP(i, n) out[i] = half::to_bf16(in[i]);
}

// out = in (bf16) + bias[channel], or out += in when `accumulate`.
__global__ void from_bf16_kernel(const uint16_t* in, float* out, int64_t n, const float* bias,
                                 int64_t channels, int64_t plane, bool nhwc, bool accumulate) {
  LOCKSTEP_GRID_LOOP(i, n) {
    float v = half::from_bf16(in[i]);
    if (bias) v += bias[nhwc ? i % channels : (i / plane) % channels];
    out[i] = accumulate ? out[i] + v : v;
  }
}

__global__ void add_bias_kernel(float* y, const float* bias, int64_t n, int64_t channels,
                                int64_t plane, bool nhwc) {
  LOCKSTEP_GRID_LOOP(i, n) y[i] += bias[nhwc ? i % channels : (i / plane) % channels];
}

void to_bf16(const float* in, uint16_t* out, int64_t n) {
  if (n == 0) return;
  to_bf16_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(in, out, n);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void from_bf16(const uint16_t* in, float* out, int64_t n, const float* bias, int64_t channels,
               int64_t plane, bool nhwc, bool accumulate) {
  if (n == 0) return;
  from_bf16_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      in, out, n, bias, channels, plane, nhwc, accumulate);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void add_bias(float* y, const float* bias, int64_t n, int64_t channels, int64_t plane, bool nhwc) {
  if (n == 0) return;
  add_bias_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(y, bias, n, channels,
                                                                              plane, nhwc);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

// ---- the three directions on raw pointers ----------------------------------
//
// Each takes float32 operands and converts them to bf16 copies itself when
// the precision asks for it. Sizes: x n c h w, w o c kh kw, y n o oh ow.

struct Sizes {
  int64_t x, w, y;
};
Sizes sizes(const ConvProblem& p) {
  return {p.n * p.c * p.h * p.w, p.o * p.c * p.kh * p.kw, p.n * p.o * p.oh * p.ow};
}

// y = conv(x, w) (+ bias when non-null), overwritten.
void run_forward(const ConvProblem& p, const float* x, const float* w, const float* bias,
                 float* y) {
  const Ready r = prepare(p, Direction::kForward);
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(r.choice.algo);
  const Sizes s = sizes(p);
  const float one = 1.f, zero = 0.f;
  const bool nhwc = p.layout == ConvLayout::kNhwc;
  if (!r.bf16) {
    void* ws = lockstep::cuda::shared_workspace(r.choice.workspace);
    LOCKSTEP_CUDNN_CHECK(cudnnConvolutionForward(r.handle, &one, r.plan.x.get(), x, r.plan.w.get(),
                                                 w, r.plan.conv.get(), algo, ws, r.choice.workspace,
                                                 &zero, r.plan.y.get(), y));
    if (bias) add_bias(y, bias, s.y, p.o, p.oh * p.ow, nhwc);
    return;
  }
  const size_t bx = aligned(s.x * 2), bw = aligned(s.w * 2), by = aligned(s.y * 2);
  auto* base =
      static_cast<char*>(lockstep::cuda::shared_workspace(bx + bw + by + r.choice.workspace));
  auto* xb = reinterpret_cast<uint16_t*>(base);
  auto* wb = reinterpret_cast<uint16_t*>(base + bx);
  auto* yb = reinterpret_cast<uint16_t*>(base + bx + bw);
  to_bf16(x, xb, s.x);
  to_bf16(w, wb, s.w);
  LOCKSTEP_CUDNN_CHECK(cudnnConvolutionForward(r.handle, &one, r.plan.x.get(), xb, r.plan.w.get(),
                                               wb, r.plan.conv.get(), algo, base + bx + bw + by,
                                               r.choice.workspace, &zero, r.plan.y.get(), yb));
  from_bf16(yb, y, s.y, bias, p.o, p.oh * p.ow, nhwc, false);
}

// dx = the data gradient of conv(., w) at dy, overwritten.
void run_backward_data(const ConvProblem& p, const float* w, const float* dy, float* dx) {
  const Ready r = prepare(p, Direction::kBackwardData);
  const auto algo = static_cast<cudnnConvolutionBwdDataAlgo_t>(r.choice.algo);
  const Sizes s = sizes(p);
  const float one = 1.f, zero = 0.f;
  if (!r.bf16) {
    void* ws = lockstep::cuda::shared_workspace(r.choice.workspace);
    LOCKSTEP_CUDNN_CHECK(cudnnConvolutionBackwardData(
        r.handle, &one, r.plan.w.get(), w, r.plan.y.get(), dy, r.plan.conv.get(), algo, ws,
        r.choice.workspace, &zero, r.plan.x.get(), dx));
    return;
  }
  const size_t bw = aligned(s.w * 2), by = aligned(s.y * 2), bx = aligned(s.x * 2);
  auto* base =
      static_cast<char*>(lockstep::cuda::shared_workspace(bw + by + bx + r.choice.workspace));
  auto* wb = reinterpret_cast<uint16_t*>(base);
  auto* dyb = reinterpret_cast<uint16_t*>(base + bw);
  auto* dxb = reinterpret_cast<uint16_t*>(base + bw + by);
  to_bf16(w, wb, s.w);
  to_bf16(dy, dyb, s.y);
  LOCKSTEP_CUDNN_CHECK(cudnnConvolutionBackwardData(
      r.handle, &one, r.plan.w.get(), wb, r.plan.y.get(), dyb, r.plan.conv.get(), algo,
      base + bw + by + bx, r.choice.workspace, &zero, r.plan.x.get(), dxb));
  from_bf16(dxb, dx, s.x, nullptr, 0, 1, false, false);
}

// acc_dw += the filter gradient of conv(x, .) at dy.
void run_backward_filter(const ConvProblem& p, const float* x, const float* dy, float* acc_dw) {
  const Ready r = prepare(p, Direction::kBackwardFilter);
  const auto algo = static_cast<cudnnConvolutionBwdFilterAlgo_t>(r.choice.algo);
  const Sizes s = sizes(p);
  const float one = 1.f, zero = 0.f;
  if (!r.bf16) {
    void* ws = lockstep::cuda::shared_workspace(r.choice.workspace);
    LOCKSTEP_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        r.handle, &one, r.plan.x.get(), x, r.plan.y.get(), dy, r.plan.conv.get(), algo, ws,
        r.choice.workspace, &one, r.plan.w.get(), acc_dw));
    return;
  }
  const size_t bx = aligned(s.x * 2), by = aligned(s.y * 2), bw = aligned(s.w * 2);
  auto* base =
      static_cast<char*>(lockstep::cuda::shared_workspace(bx + by + bw + r.choice.workspace));
  auto* xb = reinterpret_cast<uint16_t*>(base);
  auto* dyb = reinterpret_cast<uint16_t*>(base + bx);
  auto* dwb = reinterpret_cast<uint16_t*>(base + bx + by);
  to_bf16(x, xb, s.x);
  to_bf16(dy, dyb, s.y);
  LOCKSTEP_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      r.handle, &one, r.plan.x.get(), xb, r.plan.y.get(), dyb, r.plan.conv.get(), algo,
      base + bx + by + bw, r.choice.workspace, &zero, r.plan.w.get(), dwb));
  from_bf16(dwb, acc_dw, s.w, nullptr, 0, 1, false, true);
}

// acc_db (channels) += the sum of dy (n, channels, oh, ow in `layout`) over
// everything but channels. Its descriptors are cached by that shape.
void run_bias_grad(int64_t n, int64_t channels, int64_t oh, int64_t ow, ConvLayout layout,
                   const float* dy, float* acc_db) {
  struct Descs {
    lockstep::cuda::TensorDesc dy, db;
  };
  static std::unordered_map<ConvAlgoKey, Descs, ConvAlgoKeyHash> descs;  // see cache()
  ConvAlgoKey key;
  key.n = n;
  key.c = channels;
  key.h = oh;
  key.w = ow;
  key.layout = layout;
  const cudnnHandle_t h = cudnn();
  auto it = descs.find(key);
  if (it == descs.end()) {
    Descs d{lockstep::cuda::make_tensor_desc(), lockstep::cuda::make_tensor_desc()};
    set_tensor(d.dy.get(), key, CUDNN_DATA_FLOAT, n, channels, oh, ow);
    LOCKSTEP_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d.db.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                    1, to_int(channels, key, "channels"), 1, 1));
    it = descs.emplace(key, std::move(d)).first;
  }
  const float one = 1.f;
  LOCKSTEP_CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, it->second.dy.get(), dy, &one,
                                                    it->second.db.get(), acc_db));
}

}  // namespace

void cudnn_conv2d_forward(const ConvProblem& p, const Tensor& x, const Tensor& w,
                          const Tensor& bias, Tensor& y) {
  run_forward(p, cf(x), cf(w), bias.defined() ? cf(bias) : nullptr, f(y));
}

void cudnn_conv2d_backward(const ConvProblem& p, const Tensor& x, const Tensor& w, const Tensor& dy,
                           Tensor* dx, Tensor& acc_dw, Tensor* acc_db) {
  if (acc_db) run_bias_grad(p.n, p.o, p.oh, p.ow, p.layout, cf(dy), f(*acc_db));
  run_backward_filter(p, cf(x), cf(dy), f(acc_dw));
  if (dx) run_backward_data(p, cf(w), cf(dy), f(*dx));
}

// Transposed: p's x is our y, p's y is our x ("ops/conv_cudnn.hpp").
void cudnn_conv_transpose2d_forward(const ConvProblem& p, const Tensor& x, const Tensor& w,
                                    const Tensor& bias, Tensor& y) {
  run_backward_data(p, cf(w), cf(x), f(y));
  if (bias.defined()) add_bias(f(y), cf(bias), y.numel(), p.c, p.h * p.w, false);
}

void cudnn_conv_transpose2d_backward(const ConvProblem& p, const Tensor& x, const Tensor& w,
                                     const Tensor& dy, Tensor* dx, Tensor& acc_dw, Tensor* acc_db) {
  if (acc_db) run_bias_grad(p.n, p.c, p.h, p.w, p.layout, cf(dy), f(*acc_db));  // dy as p's x
  // dW (C, O, k, k) as p's filter: x plays p's dy, dy plays p's x.
  run_backward_filter(p, cf(dy), cf(x), f(acc_dw));
  if (dx) run_forward(p, cf(dy), cf(w), nullptr, f(*dx));
}

}  // namespace cuda

bool cudnn_built() {
  return true;
}

ConvAlgoStats conv_algo_stats() {
  return cuda::cache().stats;
}

}  // namespace lockstep::ops
