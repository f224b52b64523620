#pragma once
// Image augmentation in the input pipeline, applied to normalised (N, C, H, W)
// batches on the pipeline's thread, and to their (N, H, W) label maps when the
// labels are per pixel, so that a mask's pixels move exactly with the image's:
// random crop with padding, horizontal flip, scale jitter (bilinear for the
// image, nearest for the mask, about the centre), and brightness / contrast
// jitter (images only). Seeded per (seed, epoch, rank, step) and sample: runs
// repeat, and ranks see different augmentations.
//
// Per sample the draws come in a fixed order (shift y, shift x, flip, then
// scale, brightness, contrast only when on), so configurations without the
// newer options augment exactly as before. Pixels brought in from outside the
// image are 0 in the image (after normalisation) and `mask_fill` in the mask
// (the dataset's ignore_index when it has one, else class 0).

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace lockstep::io {

struct AugmentOptions {
  int64_t crop_padding = 0;  // > 0: pad by this many pixels (zeros after normalisation), crop back
  bool hflip = false;        // flip left-right with probability 1/2
  double scale_jitter = 0;   // > 0: zoom by a factor drawn from [1 - s, 1 + s] about the centre
  double brightness = 0;     // > 0: add a value drawn from [-b, b] (normalised units), images only
  double contrast = 0;       // > 0: scale about the sample mean by [1 - c, 1 + c], images only
  bool active() const {
    return crop_padding > 0 || hflip || scale_jitter > 0 || brightness > 0 || contrast > 0;
  }
};

/// One sample's draws (exposed for tests).
struct SampleAugment {
  int64_t dy = 0, dx = 0;  // crop offset in the padded image, minus the padding
  bool flip = false;
  double scale = 1.0;
  double brightness = 0.0;  // added
  double contrast = 1.0;    // factor about the mean
};
SampleAugment draw_augment(const AugmentOptions& options, uint64_t key, int64_t sample);

/// Augments every sample of x (n, C, H, W) float32 in place, and the label
/// maps `masks` (n, H, W) int32 with the same geometry when not null;
/// `scratch` is a reusable buffer. Throws when the samples are not images
/// (C, H, W) or the masks do not match them.
void augment_batch(Tensor& x, Tensor* masks, const AugmentOptions& options, uint64_t key,
                   std::vector<float>& scratch, int32_t mask_fill = 0);
inline void augment_batch(Tensor& x, const AugmentOptions& options, uint64_t key,
                          std::vector<float>& scratch) {
  augment_batch(x, nullptr, options, key, scratch);
}

}  // namespace lockstep::io
