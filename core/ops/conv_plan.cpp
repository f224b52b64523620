// ops/conv_plan.hpp, and the process-wide choice of the GPU convolution
// backend (ops/conv.hpp).

#include "core/ops/conv_plan.hpp"

#include <algorithm>
#include <atomic>
#include <functional>

#include "core/error.hpp"

namespace lockstep::ops {

const char* to_string(ConvLayout layout) {
  return layout == ConvLayout::kNhwc ? "nhwc" : "nchw";
}

const char* to_string(ConvBackend backend) {
  return backend == ConvBackend::kCudnn ? "cudnn" : "im2col";
}

namespace {
// -1 until set: then the default (cuDNN where built).
std::atomic<int> g_backend{-1};
constexpr int64_t kDefaultIm2colCap = int64_t{1} << 26;
std::atomic<int64_t> g_im2col_cap{kDefaultIm2colCap};
}  // namespace

int64_t im2col_workspace_cap() {
  return g_im2col_cap.load(std::memory_order_relaxed);
}

void set_im2col_workspace_cap(int64_t elements) {
  LOCKSTEP_CHECK(elements >= 0,
                 "set_im2col_workspace_cap: expected a number of elements >= 1 "
                 "(or 0 for the default), got "
                     << elements);
  g_im2col_cap.store(elements == 0 ? kDefaultIm2colCap : elements, std::memory_order_relaxed);
}

ConvBackend conv_backend() {
  const int b = g_backend.load(std::memory_order_relaxed);
  if (b < 0) return cudnn_built() ? ConvBackend::kCudnn : ConvBackend::kIm2col;
  return static_cast<ConvBackend>(b);
}

void set_conv_backend(ConvBackend backend) {
  LOCKSTEP_CHECK(backend != ConvBackend::kCudnn || cudnn_built(),
                 "set_conv_backend: expected im2col, got cudnn, but this build has no cuDNN "
                 "(configure with cuDNN found and LOCKSTEP_CUDNN=ON)");
  g_backend.store(static_cast<int>(backend), std::memory_order_relaxed);
}

ConvChunkPlan plan_conv_chunks(int64_t n, int64_t patch, int64_t o, int64_t oh, int64_t ow,
                               int64_t cap) {
  LOCKSTEP_CHECK(n >= 1 && patch >= 1 && o >= 1 && oh >= 1 && ow >= 1 && cap >= 1,
                 "plan_conv_chunks: expected positive sizes, got n "
                     << n << ", patch " << patch << ", o " << o << ", plane " << oh << "x" << ow
                     << ", cap " << cap);
  const int64_t plane = oh * ow;
  const auto round64 = [](int64_t e) { return (e + 63) / 64 * 64; };
  ConvChunkPlan plan;
  // Several samples need col and Yt (their GEMM output, transposed into y
  // afterwards); one sample writes y directly and needs col only.
  const int64_t samples = std::min(cap / ((patch + o) * plane), n);
  if (samples >= 2) {
    plan.samples = samples;
    plan.rows = oh;
    plan.col_elems = round64(patch * samples * plane);
    plan.total = plan.col_elems + o * samples * plane;
    return plan;
  }
  plan.samples = 1;
  plan.rows = std::clamp<int64_t>(cap / (patch * ow), 1, oh);
  plan.col_elems = round64(patch * plan.rows * ow);
  plan.total = plan.col_elems;
  return plan;
}

RowRange conv_input_rows(int64_t r0, int64_t rows, int64_t kh, int64_t s, int64_t p, int64_t h) {
  const int64_t first = std::clamp<int64_t>(r0 * s - p, 0, h);
  const int64_t last = std::clamp<int64_t>((r0 + rows - 1) * s - p + kh, first, h);
  return {first, last};
}

size_t ConvAlgoKeyHash::operator()(const ConvAlgoKey& k) const noexcept {
  size_t h = 0;
  const auto mix = [&h](int64_t v) {
    h ^= std::hash<int64_t>{}(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  };
  for (int64_t v : {k.n, k.c, k.h, k.w, k.o, k.kh, k.kw, k.stride, k.pad}) mix(v);
  mix(static_cast<int64_t>(k.layout));
  mix(static_cast<int64_t>(k.dtype));
  mix(static_cast<int64_t>(k.precision));
  return h;
}

std::string to_string(const ConvAlgoKey& k) {
  return "conv x " + shape_str({k.n, k.c, k.h, k.w}) + " " + to_string(k.layout) + " w " +
         shape_str({k.o, k.c, k.kh, k.kw}) + " s" + std::to_string(k.stride) + " p" +
         std::to_string(k.pad) + " " + lockstep::to_string(k.dtype) + " " +
         lockstep::to_string(k.precision);
}

}  // namespace lockstep::ops
