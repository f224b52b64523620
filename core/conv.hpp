#pragma once
// Convolutional layers for image models (N, C, H, W): Conv2D, MaxPool2D,
// AvgPool2D, GlobalAvgPool. (Being implemented; see make_conv_layer.)

#include <memory>
#include <string>
#include <vector>

#include "core/layer.hpp"

namespace lockstep {

/// The convolutional kinds the parser knows, for error messages.
inline constexpr const char* kConvLayers = "";

/// Builds a convolutional layer from its parsed spec (name and arguments as
/// written, e.g. name "conv2d", args {"32", "3", "stride=2", "padding=1"}), or
/// returns nullptr when `name` is not a convolutional kind.
std::unique_ptr<Layer> make_conv_layer(const std::string& name,
                                       const std::vector<std::string>& args,
                                       const std::string& token);

}  // namespace lockstep
