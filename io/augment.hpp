#pragma once
// Image augmentation in the input pipeline: random crop with padding and
// horizontal flip, applied to normalised (N, C, H, W) batches on the
// pipeline's thread. Seeded per (seed, epoch, rank, step): runs repeat, and
// ranks see different augmentations.

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace lockstep::io {

struct AugmentOptions {
  int64_t crop_padding = 0;  // > 0: pad by this many pixels (zeros after normalisation), crop back
  bool hflip = false;        // flip left-right with probability 1/2
  bool active() const { return crop_padding > 0 || hflip; }
};

/// Augments every sample of x (n, C, H, W) float32 in place; `scratch` is a
/// reusable buffer. Throws when the samples are not images (C, H, W).
void augment_batch(Tensor& x, const AugmentOptions& options, uint64_t key,
                   std::vector<float>& scratch);

}  // namespace lockstep::io
