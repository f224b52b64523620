#include "core/layers/dense.hpp"

#include "core/ops/dense.hpp"

namespace lockstep {

Dense::Dense(int64_t units, bool bias) : units_(units), bias_(bias) {
  LOCKSTEP_CHECK(units > 0, "dense: expected a positive number of units, got " << units);
}

std::string Dense::spec() const {
  return "dense(" + std::to_string(units_) + (bias_ ? "" : ", nobias") + ")";
}

Shape Dense::output_shape(const Shape& in) const {
  LOCKSTEP_CHECK(!in.empty() && shape_numel(in) > 0,
                 spec() << ": expected a non-empty input sample, got " << shape_str(in));
  return {units_};
}

std::vector<ParamSpec> Dense::param_specs(const Shape& in) const {
  const int64_t fan_in = shape_numel(in);
  std::vector<ParamSpec> specs{{"weight", {units_, fan_in}, Init::kHe, fan_in, units_}};
  if (bias_) specs.push_back({"bias", {units_}, Init::kZeros, fan_in, units_});
  return specs;
}

void Dense::bind(std::span<const Tensor> params, std::span<const Tensor> grads) {
  w_ = params[0];
  dw_ = grads[0];
  if (bias_) {
    b_ = params[1];
    db_ = grads[1];
  }
}

Tensor Dense::forward_impl(const Tensor& x, const RunContext& /*ctx*/, uint64_t /*layer_index*/,
                           DenseSaved& saved) {
  const int64_t n = x.dim(0);
  const Tensor x2 = x.reshape({n, w_.dim(1)});
  Tensor& y = output_buffer(n, x.dtype(), x.device());
  ops::gemm(false, true, 1.0, x2, w_, 0.0, y);  // (N, I) x (O, I)^T
  if (bias_) ops::add_row_bias(y, b_);
  saved.x2 = x2;
  return y;
}

Tensor Dense::backward_impl(const DenseSaved& saved, const Tensor& dy, bool need_dx) {
  const Tensor& x2 = saved.x2;  // (N, I)
  const int64_t n = x2.dim(0);
  ops::gemm(true, false, 1.0, dy, x2, 1.0, dw_);  // dW (O, I) += dy^T x
  if (bias_) ops::acc_column_sums(dy, db_);
  if (!need_dx) return Tensor();
  Tensor& dx = grad_input_buffer(n, dy.dtype(), dy.device());
  Tensor dx2 = dx.reshape({n, w_.dim(1)});
  ops::gemm(false, false, 1.0, dy, w_, 0.0, dx2);  // dx (N, I) = dy (N, O) W (O, I)
  return dx;
}

std::unique_ptr<Layer> make_dense(LayerArgs& args) {
  args.bind({{"units"}}, {"bias", "nobias"});
  return std::make_unique<Dense>(args.integer("units"), args.flag({"bias", "nobias"}) != "nobias");
}

}  // namespace lockstep
