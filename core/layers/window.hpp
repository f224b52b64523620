#pragma once
// Internal to the image layers (conv2d, pool2d, global_avg_pool): per-sample
// shapes are (C, H, W) (batches NCHW); kernels are square, stride and padding
// the same along both axes.

#include <string>

#include "core/ops/conv.hpp"
#include "core/tensor.hpp"

namespace lockstep::window {

// Every image layer takes one image (C, H, W) per sample.
inline void check_image(const std::string& spec, const Shape& in) {
  LOCKSTEP_CHECK(in.size() == 3, spec << ": expected an input (C, H, W), got " << shape_str(in));
  LOCKSTEP_CHECK(in[0] > 0 && in[1] > 0 && in[2] > 0,
                 spec << ": expected a non-empty input (C, H, W), got " << shape_str(in));
}

// Output shape of a k x k window sweep over an image, or a clear error.
inline Shape sweep_shape(const std::string& spec, const Shape& in, int64_t channels, int64_t kernel,
                         int64_t stride, int64_t padding) {
  check_image(spec, in);
  const int64_t oh = ops::conv_out_size(in[1], kernel, stride, padding);
  const int64_t ow = ops::conv_out_size(in[2], kernel, stride, padding);
  LOCKSTEP_CHECK(oh >= 1 && ow >= 1, spec << ": input " << shape_str(in) << " is too small: kernel "
                                          << kernel << " needs at least " << kernel << "x" << kernel
                                          << " after padding " << padding);
  return {channels, oh, ow};
}

// ", stride=S, padding=P" where they differ from the defaults (spec text).
inline std::string args_text(int64_t stride, int64_t default_stride, int64_t padding) {
  std::string s;
  if (stride != default_stride) s += ", stride=" + std::to_string(stride);
  if (padding != 0) s += ", padding=" + std::to_string(padding);
  return s;
}

}  // namespace lockstep::window
