// The table of layer kinds (registry.hpp).

#include "core/layers/registry.hpp"

#include <algorithm>

#include "core/layers/activation.hpp"
#include "core/layers/batchnorm.hpp"
#include "core/layers/concat.hpp"
#include "core/layers/conv2d.hpp"
#include "core/layers/conv_transpose2d.hpp"
#include "core/layers/dense.hpp"
#include "core/layers/dropout.hpp"
#include "core/layers/flatten.hpp"
#include "core/layers/global_avg_pool.hpp"
#include "core/layers/pool2d.hpp"
#include "core/layers/residual.hpp"
#include "core/layers/upsample.hpp"

namespace lockstep {
namespace {

struct LayerKind {
  std::vector<std::string> names;  // the name, then aliases
  const char* synopsis;
  std::unique_ptr<Layer> (*make)(LayerArgs& args);
};

const std::vector<LayerKind>& kinds() {
  static const std::vector<LayerKind> table{
      {{"dense", "linear"}, "dense(units[, nobias])", make_dense},
      {{"relu"}, "relu", make_relu},
      {{"sigmoid"}, "sigmoid", make_sigmoid},
      {{"tanh"}, "tanh", make_tanh},
      {{"dropout"}, "dropout(rate)", make_dropout},
      {{"flatten"}, "flatten", make_flatten},
      {{"batchnorm", "bn"}, "batchnorm[(momentum=M, eps=E, sync)]", make_batchnorm},
      {{"residual"}, "residual(layers...)", make_residual},
      {{"conv2d"}, "conv2d(out_channels, kernel[, stride=S][, padding=P][, nobias])", make_conv2d},
      {{"maxpool2d"}, "maxpool2d(kernel[, stride=S][, padding=P])", make_maxpool2d},
      {{"avgpool2d"}, "avgpool2d(kernel[, stride=S][, padding=P])", make_avgpool2d},
      {{"global_avg_pool", "gap"}, "global_avg_pool (gap)", make_global_avg_pool},
      {{"upsample"}, "upsample(scale[, mode=nearest|bilinear])", make_upsample},
      {{"conv_transpose2d"},
       "conv_transpose2d(out_channels, kernel[, stride=2][, padding=P][, output_padding=Q]"
       "[, nobias])",
       make_conv_transpose2d},
      {{"concat"}, "concat(@name)", make_concat},
      {{"add"}, "add(@name)", make_add},
  };
  return table;
}

}  // namespace

std::vector<std::string> layer_synopses() {
  std::vector<std::string> out;
  for (const LayerKind& k : kinds()) out.emplace_back(k.synopsis);
  return out;
}

std::unique_ptr<Layer> make_layer(const std::string& token) {
  int depth = 0;
  for (char c : token) {
    depth += c == '(' ? 1 : c == ')' ? -1 : 0;
    LOCKSTEP_CHECK(c != '@' || depth > 0,
                   "layer '" << token << "': a name (@name) may follow only a layer at the top "
                             << "level of the model, not one inside a block");
  }
  LayerArgs args(token);
  for (const LayerKind& kind : kinds()) {
    if (std::find(kind.names.begin(), kind.names.end(), args.name()) == kind.names.end()) continue;
    try {
      return kind.make(args);
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.rfind("layer '", 0) == 0) throw;
      throw Error("layer '" + token + "': " + what);
    }
  }
  std::string known;
  for (const std::string& s : layer_synopses()) known += (known.empty() ? "" : ", ") + s;
  LOCKSTEP_FAIL("unknown layer '" << token << "'; known layers: " << known);
}

}  // namespace lockstep
