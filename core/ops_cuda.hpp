#pragma once
// CUDA versions of core/ops.hpp, same arguments, float32 only, on the current
// stream (core/cuda/runtime.hpp). Called by the dispatch in ops_cpu.cpp after
// the shared argument checks; defined in cuda/ops.cu (or ops_cuda_stub.cpp in
// a CPU-only build, where no device tensor can exist).

#include <cstdint>

#include "core/tensor.hpp"

namespace lockstep::ops::cuda {

void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          Tensor& c);
void add_row_bias(Tensor& y, const Tensor& bias);
void acc_column_sums(const Tensor& dy, Tensor& acc_db);
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx);
void sigmoid_forward(const Tensor& x, Tensor& y);
void sigmoid_backward(const Tensor& y, const Tensor& dy, Tensor& dx);
void tanh_forward(const Tensor& x, Tensor& y);
void tanh_backward(const Tensor& y, const Tensor& dy, Tensor& dx);
void dropout_forward(const Tensor& x, double p, uint64_t key, Tensor& mask, Tensor& y);
void multiply(const Tensor& a, const Tensor& b, Tensor& out);
void add(const Tensor& a, const Tensor& b, Tensor& out);
void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double grad_scale,
                           Tensor& loss, Tensor& correct, Tensor* dlogits);
void mse(const Tensor& out, const Tensor& targets, double grad_scale, Tensor& loss, Tensor* dout);
void sgd_step(Tensor& params, const Tensor& grads, Tensor& velocity, double lr, double momentum,
              double weight_decay, bool nesterov);
void scale(Tensor& x, double alpha);
void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool decoupled, int64_t t);
double sum_squares(const Tensor& x);

}  // namespace lockstep::ops::cuda
