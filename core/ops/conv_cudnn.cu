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
//   the float32 acc_dw; db is summed from the float32 dy. A backward's two
//   calls share one input (dy; in a transposed backward, dy as p's x), which
//   is converted once.
// - Memory: descriptors are made once per shape; the algorithm workspace and
//   the bf16 copies come from the GPU's shared workspace
//   (core/cuda/workspace.hpp), one request per op sized for the largest
//   algorithm workspace of its calls, so a step at a fixed shape allocates
//   nothing.
// - Bias: forward adds it with our kernel after the convolution; backward
//   sums it with cudnnConvolutionBackwardBias (beta 1, float32): a reduction
//   without atomics, not among the routines cuDNN documents as
//   non-reproducible.
// - Sizes: the legacy descriptors take int dimensions and strides; a tensor
//   over 2^31 - 1 elements is refused with a message (use a smaller batch).

#include <algorithm>
#include <climits>
#include <cstdint>
#include <initializer_list>
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

enum class Direction { kForward, kBackwardData, kBackwardFilter };  // indexes Plan::choice

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
  Choice choice[3];  // by Direction
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

cudnnTensorFormat_t format_of(ConvLayout layout) {
  return layout == ConvLayout::kNhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
}

void set_tensor(cudnnTensorDescriptor_t d, const ConvAlgoKey& key, cudnnDataType_t type, int64_t n,
                int64_t c, int64_t h, int64_t w) {
  to_int(n * c * h * w, key, "tensor size");
  LOCKSTEP_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, format_of(key.layout), type,
                                                  static_cast<int>(n), static_cast<int>(c),
                                                  static_cast<int>(h), static_cast<int>(w)));
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
  LOCKSTEP_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w.get(), type, format_of(k.layout),
                                                  static_cast<int>(p.o), static_cast<int>(p.c),
                                                  static_cast<int>(p.kh), static_cast<int>(p.kw)));
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

// The first acceptable candidate ("Note: cuDNN convolutions"), or none
// (chosen false).
template <class Perf>
Choice pick(const Perf* perf, int count) {
  for (int i = 0; i < count; ++i) {
    const Perf& c = perf[i];
    if (c.status == CUDNN_STATUS_SUCCESS && c.determinism == CUDNN_DETERMINISTIC &&
        c.memory <= kAlgoWorkspaceCap)
      return {true, static_cast<int>(c.algo), c.mathType, c.memory};
  }
  return {};
}

constexpr const char* kDirectionName[] = {"forward", "backward data", "backward filter"};

// Asks cuDNN's heuristics for the direction's candidates and keeps the first
// acceptable one, with its workspace size under its math type.
Choice search(cudnnHandle_t h, Plan& plan, const ConvAlgoKey& key, Direction d) {
  LOCKSTEP_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv.get(), requested_math(key.precision)));
  Choice ch;
  int count = 0;
  switch (d) {
    case Direction::kForward: {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      LOCKSTEP_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
          h, plan.x.get(), plan.w.get(), plan.conv.get(), plan.y.get(),
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
      ch = pick(perf, count);
      break;
    }
    case Direction::kBackwardData: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      LOCKSTEP_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
          h, plan.w.get(), plan.y.get(), plan.conv.get(), plan.x.get(),
          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf));
      ch = pick(perf, count);
      break;
    }
    case Direction::kBackwardFilter: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      LOCKSTEP_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, plan.x.get(), plan.y.get(), plan.conv.get(), plan.w.get(),
          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf));
      ch = pick(perf, count);
      break;
    }
  }
  LOCKSTEP_CHECK(ch.chosen, "cuDNN convolution " << to_string(key) << ": none of cuDNN's " << count
                                                 << " " << kDirectionName[static_cast<int>(d)]
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

// ---- one op's cuDNN calls -------------------------------------------------
//
// The cuDNN calls of one public op on the plan of its problem. The algorithms
// of its directions are chosen up front, so that one shared-workspace request
// (valid until the next: a Calls lives for one op) holds the operands and the
// largest algorithm workspace. Operands are float32, in the plan's roles x
// (n c h w), w (o c kh kw), y (n o oh ow). In bf16 each role has a bfloat16
// slot (x, w, y, then the algorithm workspace, kAlign-aligned): a call stages
// its inputs into their slots, cuDNN writes the output's slot, and unstage
// converts it back. A slot remembers which tensor it holds a copy of, so an
// input both calls of a backward read is converted once (an op's outputs
// never alias its inputs).
class Calls {
 public:
  Calls(const ConvProblem& p, std::initializer_list<Direction> directions)
      : p_(p),
        handle_(cudnn()),
        elems_{p.n * p.c * p.h * p.w, p.o * p.c * p.kh * p.kw, p.n * p.o * p.oh * p.ow} {
    const ConvAlgoKey key = key_of(p);
    Cache& c = cache();
    auto it = c.plans.find(key);
    if (it == c.plans.end()) {
      it = c.plans.emplace(key, make_plan(key, p)).first;
      ++c.stats.plans;
    }
    plan_ = it->second.get();
    bf16_ = bf16(key.precision);
    size_t algo_workspace = 0;
    for (Direction d : directions) {
      Choice& choice = plan_->choice[static_cast<int>(d)];
      ++c.stats.lookups;
      if (!choice.chosen) {
        choice = search(handle_, *plan_, key, d);
        ++c.stats.searches;
      }
      algo_workspace = std::max(algo_workspace, choice.workspace);
    }
    size_t slots = 0, offset[3];
    for (int r = kX; r <= kY; ++r) {
      offset[r] = slots;
      if (bf16_) slots += aligned(elems_[r] * 2);
    }
    auto* base = static_cast<char*>(lockstep::cuda::shared_workspace(slots + algo_workspace));
    if (bf16_)
      for (int r = kX; r <= kY; ++r) slot_[r] = reinterpret_cast<uint16_t*>(base + offset[r]);
    workspace_ = base + slots;
  }

  // y = conv(x, w) (+ bias when non-null), overwritten.
  void forward(const float* x, const float* w, const float* bias, float* y) {
    const Choice& choice = use(Direction::kForward);
    const void* xs = stage(kX, x);
    const void* ws = stage(kW, w);
    void* ys = output(kY, y);
    LOCKSTEP_CUDNN_CHECK(cudnnConvolutionForward(
        handle_, &kOne, plan_->x.get(), xs, plan_->w.get(), ws, plan_->conv.get(),
        static_cast<cudnnConvolutionFwdAlgo_t>(choice.algo), workspace_, choice.workspace, &kZero,
        plan_->y.get(), ys));
    unstage(kY, y, bias, false);
  }

  // dx = the data gradient of conv(., w) at dy, overwritten.
  void backward_data(const float* w, const float* dy, float* dx) {
    const Choice& choice = use(Direction::kBackwardData);
    const void* ws = stage(kW, w);
    const void* dys = stage(kY, dy);
    void* dxs = output(kX, dx);
    LOCKSTEP_CUDNN_CHECK(cudnnConvolutionBackwardData(
        handle_, &kOne, plan_->w.get(), ws, plan_->y.get(), dys, plan_->conv.get(),
        static_cast<cudnnConvolutionBwdDataAlgo_t>(choice.algo), workspace_, choice.workspace,
        &kZero, plan_->x.get(), dxs));
    unstage(kX, dx, nullptr, false);
  }

  // acc_dw += the filter gradient of conv(x, .) at dy: in float32 cuDNN adds
  // (beta 1); in bf16 it overwrites the slot, which unstage adds in float32.
  void backward_filter(const float* x, const float* dy, float* acc_dw) {
    const Choice& choice = use(Direction::kBackwardFilter);
    const void* xs = stage(kX, x);
    const void* dys = stage(kY, dy);
    void* dws = output(kW, acc_dw);
    LOCKSTEP_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        handle_, &kOne, plan_->x.get(), xs, plan_->y.get(), dys, plan_->conv.get(),
        static_cast<cudnnConvolutionBwdFilterAlgo_t>(choice.algo), workspace_, choice.workspace,
        bf16_ ? &kZero : &kOne, plan_->w.get(), dws));
    unstage(kW, acc_dw, nullptr, true);
  }

 private:
  enum Role { kX, kW, kY };
  static constexpr float kOne = 1.f, kZero = 0.f;  // cuDNN's alpha and beta

  // The direction's algorithm, with the convolution descriptor (which the
  // directions share) set to its math type.
  const Choice& use(Direction d) {
    const Choice& choice = plan_->choice[static_cast<int>(d)];
    LOCKSTEP_CUDNN_CHECK(cudnnSetConvolutionMathType(plan_->conv.get(), choice.math));
    return choice;
  }

  // The operand cuDNN reads for the input t in role r.
  const void* stage(Role r, const float* t) {
    if (!bf16_) return t;
    if (holds_[r] != t) {
      to_bf16(t, slot_[r], elems_[r]);
      holds_[r] = t;
    }
    return slot_[r];
  }

  // The operand cuDNN writes for the output t in role r.
  void* output(Role r, float* t) {
    if (!bf16_) return t;
    holds_[r] = nullptr;
    return slot_[r];
  }

  // The output t in role r as float32: t = the slot (+ bias per channel of y
  // when non-null), or t += the slot when `accumulate`.
  void unstage(Role r, float* t, const float* bias, bool accumulate) {
    const bool nhwc = p_.layout == ConvLayout::kNhwc;
    if (bf16_)
      from_bf16(slot_[r], t, elems_[r], bias, p_.o, p_.oh * p_.ow, nhwc, accumulate);
    else if (bias)
      add_bias(t, bias, elems_[r], p_.o, p_.oh * p_.ow, nhwc);
  }

  const ConvProblem p_;
  const cudnnHandle_t handle_;
  const int64_t elems_[3];  // by Role
  Plan* plan_ = nullptr;
  bool bf16_ = false;
  uint16_t* slot_[3] = {};
  const float* holds_[3] = {};  // the tensor each slot holds a bf16 copy of
  void* workspace_ = nullptr;   // the algorithm workspace
};

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
  Calls(p, {Direction::kForward}).forward(cf(x), cf(w), bias.defined() ? cf(bias) : nullptr, f(y));
}

void cudnn_conv2d_backward(const ConvProblem& p, const Tensor& x, const Tensor& w, const Tensor& dy,
                           Tensor* dx, Tensor& acc_dw, Tensor* acc_db) {
  if (acc_db) run_bias_grad(p.n, p.o, p.oh, p.ow, p.layout, cf(dy), f(*acc_db));
  Calls calls = dx ? Calls(p, {Direction::kBackwardFilter, Direction::kBackwardData})
                   : Calls(p, {Direction::kBackwardFilter});
  calls.backward_filter(cf(x), cf(dy), f(acc_dw));
  if (dx) calls.backward_data(cf(w), cf(dy), f(*dx));  // dy staged once
}

// Transposed: p's x is our y, p's y is our x ("ops/conv_cudnn.hpp").
void cudnn_conv_transpose2d_forward(const ConvProblem& p, const Tensor& x, const Tensor& w,
                                    const Tensor& bias, Tensor& y) {
  Calls(p, {Direction::kBackwardData}).backward_data(cf(w), cf(x), f(y));
  if (bias.defined()) add_bias(f(y), cf(bias), y.numel(), p.c, p.h * p.w, false);
}

void cudnn_conv_transpose2d_backward(const ConvProblem& p, const Tensor& x, const Tensor& w,
                                     const Tensor& dy, Tensor* dx, Tensor& acc_dw, Tensor* acc_db) {
  if (acc_db) run_bias_grad(p.n, p.c, p.h, p.w, p.layout, cf(dy), f(*acc_db));  // dy as p's x
  Calls calls = dx ? Calls(p, {Direction::kBackwardFilter, Direction::kForward})
                   : Calls(p, {Direction::kBackwardFilter});
  // dW (C, O, k, k) as p's filter: x plays p's dy, dy plays p's x.
  calls.backward_filter(cf(dy), cf(x), f(acc_dw));
  if (dx) calls.forward(cf(dy), cf(w), nullptr, f(*dx));  // dy staged once
}

}  // namespace cuda

bool cudnn_built() {
  return true;
}

ConvAlgoStats conv_algo_stats() {
  return cuda::cache().stats;
}

}  // namespace lockstep::ops
