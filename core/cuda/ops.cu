// CUDA versions of the ops (core/ops_cuda.hpp): GEMM and column sums through
// cuBLAS, our own kernels for the rest. Arguments were checked by the dispatch
// in ops_cpu.cpp; here only the dtype (float32 on the GPU) is checked. Every
// kernel runs on the current stream and is followed by a launch check.
// The CPU reference in ops_cpu.cpp is the specification of each kernel.

#include <cmath>

#include "core/cuda/runtime.hpp"
#include "core/ops_cuda.hpp"
#include "core/rng.hpp"

namespace lockstep::ops::cuda {

using lockstep::cuda::blas;
using lockstep::cuda::blocks_for;
using lockstep::cuda::current_stream;

namespace {

constexpr int kThreads = 256;

const float* cf(const Tensor& t) {
  return t.data<float>();
}
float* f(const Tensor& t) {
  return t.data<float>();
}

void require_f32(const Tensor& t, const char* op) {
  LOCKSTEP_CHECK(t.dtype() == DType::kF32,
                 op << ": GPU tensors must be float32, got " << to_string(t.dtype()));
}

template <class F>
__global__ void unary_kernel(const float* x, float* y, int64_t n, F fn) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    y[i] = fn(x[i]);
}

template <class F>
__global__ void binary_kernel(const float* a, const float* b, float* out, int64_t n, F fn) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    out[i] = fn(a[i], b[i]);
}

template <class F>
void unary(const Tensor& x, Tensor& y, const char* op, F fn) {
  require_f32(x, op);
  const int64_t n = x.numel();
  if (n == 0) return;
  unary_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(cf(x), f(y), n, fn);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

template <class F>
void binary(const Tensor& a, const Tensor& b, Tensor& out, const char* op, F fn) {
  require_f32(a, op);
  const int64_t n = a.numel();
  if (n == 0) return;
  binary_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(cf(a), cf(b), f(out), n,
                                                                            fn);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

struct Relu {
  __device__ float operator()(float v) const { return v > 0.f ? v : 0.f; }
};
struct ReluGrad {  // (x, dy)
  __device__ float operator()(float v, float g) const { return v > 0.f ? g : 0.f; }
};
struct Sigmoid {
  __device__ float operator()(float v) const {
    if (v >= 0.f) return 1.f / (1.f + expf(-v));
    const float e = expf(v);
    return e / (1.f + e);
  }
};
struct SigmoidGrad {  // (y, dy)
  __device__ float operator()(float s, float g) const { return g * s * (1.f - s); }
};
struct Tanh {
  __device__ float operator()(float v) const { return tanhf(v); }
};
struct TanhGrad {  // (y, dy)
  __device__ float operator()(float t, float g) const { return g * (1.f - t * t); }
};
struct Mul {
  __device__ float operator()(float u, float v) const { return u * v; }
};
struct Add {
  __device__ float operator()(float u, float v) const { return u + v; }
};
struct Scale {
  float a;
  __device__ float operator()(float v) const { return v * a; }
};

__global__ void row_bias_kernel(float* y, const float* b, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    y[i] += b[i % cols];
}

__global__ void fill_kernel(float* p, int64_t n, float v) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    p[i] = v;
}

__global__ void dropout_kernel(const float* x, float* mask, float* y, int64_t n, float p,
                               float keep_scale, uint64_t key) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const float m = uniform_at(key, static_cast<uint64_t>(i)) >= p ? keep_scale : 0.f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

// One thread per row; K is small for classifiers, and double accumulation
// keeps the result within rounding of the CPU reference.
__global__ void softmax_xent_kernel(const float* z, const int32_t* labels, int64_t n, int64_t k,
                                    double grad_scale, double* loss, int32_t* correct, float* dz) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= n) return;
  const float* row = z + r * k;
  const int32_t label = labels[r];
  if (label < 0 || label >= k) {  // reported by Loss::compute (correct = -1)
    loss[r] = 0.0;
    correct[r] = -1;
    if (dz)
      for (int64_t j = 0; j < k; ++j) dz[r * k + j] = 0.f;
    return;
  }
  int64_t arg = 0;
  for (int64_t j = 1; j < k; ++j)
    if (row[j] > row[arg]) arg = j;
  const double zmax = row[arg];
  double sum = 0.0;
  for (int64_t j = 0; j < k; ++j) sum += exp(static_cast<double>(row[j]) - zmax);
  const double log_sum = log(sum);
  loss[r] = log_sum + zmax - static_cast<double>(row[label]);
  correct[r] = arg == label ? 1 : 0;
  if (dz) {
    for (int64_t j = 0; j < k; ++j) {
      const double prob = exp(static_cast<double>(row[j]) - zmax - log_sum);
      dz[r * k + j] = static_cast<float>(grad_scale * (prob - (j == label ? 1.0 : 0.0)));
    }
  }
}

__global__ void mse_kernel(const float* out, const float* t, int64_t n, int64_t k,
                           double grad_scale, double* loss, float* dout) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= n) return;
  double s = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    const double e = static_cast<double>(out[r * k + j]) - static_cast<double>(t[r * k + j]);
    s += e * e;
    if (dout) dout[r * k + j] = static_cast<float>(grad_scale * 2.0 * e / static_cast<double>(k));
  }
  loss[r] = s / static_cast<double>(k);
}

__global__ void sgd_kernel(float* w, const float* g, float* v, int64_t n, float lr, float mu,
                           float wd, bool nesterov) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const float gi = g[i] + wd * w[i];
    const float vi = mu * v[i] + gi;
    v[i] = vi;
    w[i] -= lr * (nesterov ? gi + mu * vi : vi);
  }
}

__global__ void adam_kernel(float* w, const float* g, float* m, float* v, int64_t n, float lr,
                            float b1, float b2, float eps, float wd, bool decoupled, float c1,
                            float c2) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    float gi = g[i];
    if (decoupled) {
      w[i] -= lr * wd * w[i];
    } else {
      gi += wd * w[i];
    }
    const float mi = b1 * m[i] + (1.f - b1) * gi;
    const float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + eps);
  }
}

// Per-block partial sums of squares in double; the host adds the partials.
__global__ void sum_squares_kernel(const float* x, int64_t n, double* partial) {
  __shared__ double s[256];
  double acc = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// A device vector of ones of at least n elements (for column sums by GEMV).
const float* ones(int64_t n) {
  static Tensor t;
  if (!t.defined() || t.numel() < n) {
    t = Tensor::empty({std::max<int64_t>(n, 1024)}, DType::kF32, Device::kCuda);
    fill_kernel<<<blocks_for(t.numel(), kThreads), kThreads, 0, current_stream()>>>(f(t), t.numel(),
                                                                                    1.f);
    LOCKSTEP_CUDA_CHECK_LAUNCH();
  }
  return cf(t);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          Tensor& c) {
  require_f32(a, "gemm");
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
  const int m = static_cast<int>(c.dim(0)), n = static_cast<int>(c.dim(1));
  const int k = static_cast<int>(trans_a ? a.dim(0) : a.dim(1));
  const float fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
  LOCKSTEP_CUBLAS_CHECK(cublasGemmEx(blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &fa, cf(b),
                                     CUDA_R_32F, static_cast<int>(b.dim(1)), cf(a), CUDA_R_32F,
                                     static_cast<int>(a.dim(1)), &fb, f(c), CUDA_R_32F, n,
                                     lockstep::cuda::gemm_compute_type(), CUBLAS_GEMM_DEFAULT));
}

void add_row_bias(Tensor& y, const Tensor& bias) {
  require_f32(y, "add_row_bias");
  const int64_t rows = y.dim(0), cols = bias.numel();
  if (rows * cols == 0) return;
  row_bias_kernel<<<blocks_for(rows * cols, kThreads), kThreads, 0, current_stream()>>>(
      f(y), cf(bias), rows, cols);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void acc_column_sums(const Tensor& dy, Tensor& acc_db) {
  require_f32(dy, "acc_column_sums");
  const int64_t rows = dy.dim(0), cols = acc_db.numel();
  if (rows == 0 || cols == 0) return;
  // dy (N, O) row-major is (O x N) column-major: db += dy_cm * ones(N).
  const float one = 1.f;
  LOCKSTEP_CUBLAS_CHECK(cublasSgemv(blas(), CUBLAS_OP_N, static_cast<int>(cols),
                                    static_cast<int>(rows), &one, cf(dy), static_cast<int>(cols),
                                    ones(rows), 1, &one, f(acc_db), 1));
}

void relu_forward(const Tensor& x, Tensor& y) {
  unary(x, y, "relu_forward", Relu{});
}
void relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  binary(x, dy, dx, "relu_backward", ReluGrad{});
}
void sigmoid_forward(const Tensor& x, Tensor& y) {
  unary(x, y, "sigmoid_forward", Sigmoid{});
}
void sigmoid_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  binary(y, dy, dx, "sigmoid_backward", SigmoidGrad{});
}
void tanh_forward(const Tensor& x, Tensor& y) {
  unary(x, y, "tanh_forward", Tanh{});
}
void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  binary(y, dy, dx, "tanh_backward", TanhGrad{});
}
void multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(a, b, out, "multiply", Mul{});
}
void add(const Tensor& a, const Tensor& b, Tensor& out) {
  binary(a, b, out, "add", Add{});
}

void dropout_forward(const Tensor& x, double p, uint64_t key, Tensor& mask, Tensor& y) {
  require_f32(x, "dropout_forward");
  const int64_t n = x.numel();
  if (n == 0) return;
  dropout_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      cf(x), f(mask), f(y), n, static_cast<float>(p), 1.f / static_cast<float>(1.0 - p), key);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double grad_scale,
                           Tensor& loss, Tensor& correct, Tensor* dlogits) {
  require_f32(logits, "softmax_cross_entropy");
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (n == 0) return;
  // A class id outside [0, K) cannot throw from a kernel without a host sync:
  // its row gets correct = -1, and Loss::compute, which reads the rows back
  // anyway, reports it.
  softmax_xent_kernel<<<blocks_for(n, 128), 128, 0, current_stream()>>>(
      cf(logits), labels.data<int32_t>(), n, k, grad_scale, loss.data<double>(),
      correct.data<int32_t>(), dlogits ? f(*dlogits) : nullptr);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void mse(const Tensor& out, const Tensor& targets, double grad_scale, Tensor& loss, Tensor* dout) {
  require_f32(out, "mse");
  const int64_t n = out.dim(0), k = out.dim(1);
  if (n == 0) return;
  mse_kernel<<<blocks_for(n, 128), 128, 0, current_stream()>>>(
      cf(out), cf(targets), n, k, grad_scale, loss.data<double>(), dout ? f(*dout) : nullptr);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, double lr, double momentum,
              double weight_decay, bool nesterov) {
  require_f32(params, "sgd_step");
  const int64_t n = params.numel();
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      f(params), cf(grads), f(velocity), n, static_cast<float>(lr), static_cast<float>(momentum),
      static_cast<float>(weight_decay), nesterov);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

void scale(Tensor& x, double alpha) {
  require_f32(x, "scale");
  if (alpha == 0.0) {
    x.zero();
    return;
  }
  unary(x, x, "scale", Scale{static_cast<float>(alpha)});
}

void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool decoupled, int64_t t) {
  require_f32(params, "adam_step");
  const int64_t n = params.numel();
  if (n == 0) return;
  const auto c1 = static_cast<float>(1.0 - std::pow(beta1, static_cast<double>(t)));
  const auto c2 = static_cast<float>(1.0 - std::pow(beta2, static_cast<double>(t)));
  adam_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      f(params), cf(grads), f(m), f(v), n, static_cast<float>(lr), static_cast<float>(beta1),
      static_cast<float>(beta2), static_cast<float>(eps), static_cast<float>(weight_decay),
      decoupled, c1, c2);
  LOCKSTEP_CUDA_CHECK_LAUNCH();
}

double sum_squares(const Tensor& x) {
  require_f32(x, "sum_squares");
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  constexpr unsigned kBlocks = 256;
  static Tensor partial;
  if (!partial.defined()) partial = Tensor::empty({kBlocks}, DType::kF64, Device::kCuda);
  sum_squares_kernel<<<kBlocks, 256, 0, current_stream()>>>(cf(x), n, partial.data<double>());
  LOCKSTEP_CUDA_CHECK_LAUNCH();
  Tensor host = Tensor::empty({kBlocks}, DType::kF64);
  host.copy_from(partial);  // synchronises
  double s = 0;
  for (unsigned i = 0; i < kBlocks; ++i) s += host.data<double>()[i];
  return s;
}

}  // namespace lockstep::ops::cuda
