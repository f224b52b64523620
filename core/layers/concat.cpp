#include "core/layers/concat.hpp"

#include "core/ops/elementwise.hpp"
#include "core/ops/resize.hpp"

namespace lockstep {

const Tensor& Merge::source_value() const {
  LOCKSTEP_CHECK(source_value_.defined(),
                 spec() << ": no value for @" << source_ << " (the model sets it before forward)");
  return source_value_;
}

Tensor& Merge::source_grad_buffer(int64_t n, DType dtype, Device device) {
  Shape s{n};
  s.insert(s.end(), source_shape_.begin(), source_shape_.end());
  ensure_shape(source_grad_, s, dtype, device);
  return source_grad_;
}

Shape Concat::output_shape(const Shape& in) const {
  const Shape& other = source_shape();
  LOCKSTEP_CHECK(in.size() == 3 && other.size() == 3 && in[1] == other[1] && in[2] == other[2],
                 spec() << ": expected the input and @" << source() << " to be images (C, H, W) "
                        << "of the same H and W, got input " << shape_str(in) << " and @"
                        << source() << " " << shape_str(other));
  return {in[0] + other[0], in[1], in[2]};
}

Tensor Concat::forward_impl(const Tensor& x, const RunContext& /*ctx*/, uint64_t /*layer_index*/,
                            NothingSaved& /*saved*/) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::concat_channels(x, source_value(), y);
  return y;
}

Tensor Concat::backward_impl(const NothingSaved& /*saved*/, const Tensor& dy, bool need_dx) {
  Tensor& ds = source_grad_buffer(dy.dim(0), dy.dtype(), dy.device());
  // dx is needed by the model even for layer 0's input only when need_dx;
  // split_channels writes both parts, so dx gets a buffer either way.
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::split_channels(dy, dx, &ds);
  return need_dx ? dx : Tensor();
}

Shape AddNamed::output_shape(const Shape& in) const {
  LOCKSTEP_CHECK(in == source_shape(), spec() << ": expected @" << source() << " of the input's "
                                              << "shape " << shape_str(in) << ", got "
                                              << shape_str(source_shape()));
  return in;
}

Tensor AddNamed::forward_impl(const Tensor& x, const RunContext& /*ctx*/, uint64_t /*layer_index*/,
                              NothingSaved& /*saved*/) {
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::add(x, source_value(), y);
  return y;
}

Tensor AddNamed::backward_impl(const NothingSaved& /*saved*/, const Tensor& dy, bool need_dx) {
  // Both operands get dy: the model copies or adds source_grad at once.
  source_grad_ = dy;
  return need_dx ? dy : Tensor();
}

namespace {

std::string source_of(LayerArgs& args) {
  LOCKSTEP_CHECK(args.raw().size() == 1 && args.raw()[0].size() > 1 && args.raw()[0][0] == '@',
                 "expected one named output as argument, e.g. " << args.name() << "(@enc1)");
  return args.raw()[0].substr(1);
}

}  // namespace

std::unique_ptr<Layer> make_concat(LayerArgs& args) {
  return std::make_unique<Concat>(source_of(args));
}

std::unique_ptr<Layer> make_add(LayerArgs& args) {
  return std::make_unique<AddNamed>(source_of(args));
}

}  // namespace lockstep
