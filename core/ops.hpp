#pragma once
// The numeric ops under every layer, loss and optimizer.
//
// Each op checks shapes, dtypes and devices at this boundary and then runs the
// implementation for the tensors' device (CPU here; the CUDA backend adds a
// version with the same arguments). CPU versions exist for float32 and float64
// (float64 serves the finite-difference gradient checks). Outputs named `y`,
// `dx` are overwritten; arguments named `acc_*` are accumulated into.
// Letters: N batch rows, I inputs, O outputs.

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops {

/// C = alpha * op(A) * op(B) + beta * C for 2-D tensors (op = transpose when flagged).
void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          Tensor& c);

/// y (N, O) += bias (O) on every row.
void add_row_bias(Tensor& y, const Tensor& bias);
/// acc_db (O) += column sums of dy (N, O).
void acc_column_sums(const Tensor& dy, Tensor& acc_db);

/// Elementwise activations; backward gets what forward saved.
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx);  // dx = dy * (x > 0)
void sigmoid_forward(const Tensor& x, Tensor& y);
void sigmoid_backward(const Tensor& y, const Tensor& dy, Tensor& dx);  // dy * y * (1 - y)
void tanh_forward(const Tensor& x, Tensor& y);
void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx);  // dy * (1 - y^2)

/// Inverted dropout: mask[i] = (u(key, i) >= p) / (1 - p), y = x * mask.
void dropout_forward(const Tensor& x, double p, uint64_t key, Tensor& mask, Tensor& y);
/// dx = dy * mask (also used as plain elementwise product).
void multiply(const Tensor& a, const Tensor& b, Tensor& out);
/// out = a + b (residual connections).
void add(const Tensor& a, const Tensor& b, Tensor& out);

/// Softmax cross-entropy over logits (N, K) and class ids (N) int32.
/// Writes per-row loss to `loss` (N, float64) and the argmax hit (1/0) to
/// `correct` (N, int32); when `dlogits` is defined, writes
/// dlogits = grad_scale * (softmax - onehot). A class id outside [0, K)
/// throws on the CPU; on a GPU its row's `correct` is -1 (Loss::compute throws).
void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double grad_scale,
                           Tensor& loss, Tensor& correct, Tensor* dlogits);

/// Mean squared error over outputs (N, K) and float targets (N, K): per-row
/// loss = mean_k (out - t)^2; dout = grad_scale * 2 (out - t) / K.
void mse(const Tensor& out, const Tensor& targets, double grad_scale, Tensor& loss, Tensor* dout);

/// One fused SGD pass over a slab: g += wd * w; v = momentum * v + g;
/// w -= lr * (nesterov ? g + momentum * v : v)  (PyTorch's convention).
void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, double lr, double momentum,
              double weight_decay, bool nesterov);

/// One fused Adam pass (t = 1-based step): m = b1 m + (1-b1) g;
/// v = b2 v + (1-b2) g^2; w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
/// Weight decay: decoupled (AdamW: w -= lr * wd * w first) or L2 (g += wd * w).
void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool decoupled, int64_t t);

/// x *= alpha, in place.
void scale(Tensor& x, double alpha);

/// Sum of squares of all elements (accumulated in double).
double sum_squares(const Tensor& x);

}  // namespace lockstep::ops
