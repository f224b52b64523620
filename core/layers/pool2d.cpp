#include "core/layers/pool2d.hpp"

#include "core/layers/window.hpp"
#include "core/ops/pool.hpp"

namespace lockstep {

Pool2D::Pool2D(PoolKind kind, int64_t kernel, int64_t stride, int64_t padding)
    : kind_(kind), kernel_(kernel), stride_(stride == 0 ? kernel : stride), padding_(padding) {
  const char* name = kind == PoolKind::kMax ? "maxpool2d" : "avgpool2d";
  LOCKSTEP_CHECK(kernel >= 1 && stride_ >= 1,
                 name << ": expected kernel and stride >= 1, got " << kernel << ", " << stride);
  LOCKSTEP_CHECK(padding >= 0 && 2 * padding <= kernel,
                 name << ": expected padding between 0 and half the kernel (" << kernel / 2
                      << "), got " << padding);
}

std::string Pool2D::spec() const {
  return std::string(kind_ == PoolKind::kMax ? "maxpool2d(" : "avgpool2d(") +
         std::to_string(kernel_) + window::args_text(stride_, kernel_, padding_) + ")";
}

Shape Pool2D::output_shape(const Shape& in) const {
  return window::sweep_shape(spec(), in, in.size() == 3 ? in[0] : 0, kernel_, stride_, padding_);
}

Tensor Pool2D::forward_impl(const Tensor& x, const RunContext& /*ctx*/, uint64_t /*layer_index*/,
                            Pool2DSaved& saved) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  if (kind_ == PoolKind::kMax) {
    ensure_shape(saved.index, y.shape(), DType::kI32, x.device());
    ops::maxpool2d_forward(x, kernel_, stride_, padding_, y, saved.index);
  } else {
    ops::avgpool2d_forward(x, kernel_, stride_, padding_, y);
  }
  return y;
}

Tensor Pool2D::backward_impl(const Pool2DSaved& saved, const Tensor& dy, bool need_dx) {
  if (!need_dx) return Tensor();
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  if (kind_ == PoolKind::kMax) {
    ops::maxpool2d_backward(dy, saved.index, kernel_, stride_, padding_, dx);
  } else {
    ops::avgpool2d_backward(dy, kernel_, stride_, padding_, dx);
  }
  return dx;
}

namespace {
std::unique_ptr<Layer> make_pool(LayerArgs& args, PoolKind kind) {
  args.bind({{"kernel"}, {"stride"}, {"padding"}});
  const int64_t kernel = args.integer("kernel");
  LOCKSTEP_CHECK(args.integer("stride", 1) >= 1,
                 "layer '" << args.token() << "': expected a stride >= 1, got 0");
  return std::make_unique<Pool2D>(kind, kernel, args.integer("stride", kernel),
                                  args.integer("padding", 0));
}
}  // namespace

std::unique_ptr<Layer> make_maxpool2d(LayerArgs& args) {
  return make_pool(args, PoolKind::kMax);
}
std::unique_ptr<Layer> make_avgpool2d(LayerArgs& args) {
  return make_pool(args, PoolKind::kAvg);
}

}  // namespace lockstep
