#pragma once
// The step decision of "Note: the step control block" (ops/optim.hpp), from
// the gradients' sum of squares: the norm, the skip flag (a norm that is not
// finite), the clipping factor, and Adam's step count and bias corrections
// (left alone on a skipped step). One rule for the CPU reference
// (ops/optim.cpp) and the CUDA kernel (ops/optim.cu).

#include <cmath>

#include "core/half.hpp"  // LOCKSTEP_HD
#include "core/ops/optim.hpp"

namespace lockstep::ops::detail {

LOCKSTEP_HD inline void decide_step(double sum_squares, double* c, double beta1, double beta2) {
#if defined(__CUDA_ARCH__)
  const double norm = ::sqrt(sum_squares);
  const bool skipped = !::isfinite(norm);
#else
  const double norm = std::sqrt(sum_squares);
  const bool skipped = !std::isfinite(norm);
#endif
  const double clip = c[kSlotClipNorm];
  c[kSlotNorm] = norm;
  c[kSlotSkipped] = skipped ? 1.0 : 0.0;
  c[kSlotScale] = !skipped && clip > 0 && norm > clip ? clip / norm : 1.0;
  if (skipped) return;
  c[kSlotSteps] += 1;
#if defined(__CUDA_ARCH__)
  c[kSlotBias1] = 1.0 - ::pow(beta1, c[kSlotSteps]);
  c[kSlotBias2] = 1.0 - ::pow(beta2, c[kSlotSteps]);
#else
  c[kSlotBias1] = 1.0 - std::pow(beta1, c[kSlotSteps]);
  c[kSlotBias2] = 1.0 - std::pow(beta2, c[kSlotSteps]);
#endif
}

}  // namespace lockstep::ops::detail
