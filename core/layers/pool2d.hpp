#pragma once
// maxpool2d(kernel[, stride=S][, padding=P]) and avgpool2d(...): max or mean
// over k x k windows (stride defaults to the kernel; average pooling counts
// padding as zeros). Max pooling saves the argmax of each window (ties: the
// first in row-major order) and routes dy only there.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

enum class PoolKind { kMax, kAvg };

struct Pool2DSaved final : SavedState {
  Tensor index;  // max pooling: the argmax position per output (int32)
};

class Pool2D final : public LayerWith<Pool2DSaved> {
 public:
  /// stride 0 means "equal to the kernel".
  Pool2D(PoolKind kind, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      Pool2DSaved& saved) override;
  Tensor backward_impl(const Pool2DSaved& saved, const Tensor& dy, bool need_dx) override;

 private:
  PoolKind kind_;
  int64_t kernel_, stride_, padding_;
};

std::unique_ptr<Layer> make_maxpool2d(LayerArgs& args);
std::unique_ptr<Layer> make_avgpool2d(LayerArgs& args);

}  // namespace lockstep
