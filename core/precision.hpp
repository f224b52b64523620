#pragma once
// The arithmetic precision of a run (dist.precision), process-wide:
//
// - fp32: float32 everywhere.
// - tf32: float32 storage; GPU GEMMs and convolutions on TF32 tensor cores
//   (inputs rounded to a 10-bit mantissa inside cuBLAS/cuDNN). No effect on
//   CPU ranks.
// - bf16: mixed precision. Activations and GEMM/convolution inputs are
//   bfloat16 values with float32 accumulation; master weights, optimizer
//   state, the loss and softmax, and BatchNorm statistics stay float32 (see
//   "Note: bf16 mixed precision", core/model.cpp).
//
// device::select sets it for a GPU rank; CPU ranks set it with
// set_compute_precision (a training run sets fp32 for tf32 there; bf16 on a
// CPU rank is emulated: float32 arithmetic on values rounded to bfloat16).

#include <string>

namespace lockstep {

enum class Precision { kFp32, kTf32, kBf16 };

/// "fp32" | "tf32" | "bf16"; anything else throws naming dist.precision.
Precision parse_precision(const std::string& name);
const char* to_string(Precision p);

/// The precision ops run at in this process (fp32 until set).
Precision compute_precision();
void set_compute_precision(Precision p);

}  // namespace lockstep
