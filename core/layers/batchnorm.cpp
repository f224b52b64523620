#include "core/layers/batchnorm.hpp"

#include <sstream>

#include "core/ops/norm.hpp"

namespace lockstep {

BatchNorm::BatchNorm(double momentum, double eps, bool sync)
    : momentum_(momentum), eps_(eps), sync_(sync) {
  LOCKSTEP_CHECK(momentum > 0 && momentum <= 1,
                 "batchnorm: expected momentum in (0, 1], got " << momentum);
  LOCKSTEP_CHECK(eps > 0, "batchnorm: expected eps > 0, got " << eps);
}

std::string BatchNorm::spec() const {
  std::ostringstream os;
  os << "batchnorm";
  auto text = [](double v) {
    std::ostringstream t;
    t << v;
    return t.str();
  };
  std::vector<std::string> args;
  if (momentum_ != 0.1) args.push_back("momentum=" + text(momentum_));
  if (eps_ != 1e-5) args.push_back("eps=" + text(eps_));
  if (sync_) args.emplace_back("sync");
  for (size_t i = 0; i < args.size(); ++i) os << (i ? ", " : "(") << args[i];
  if (!args.empty()) os << ")";
  return os.str();
}

Shape BatchNorm::output_shape(const Shape& in) const {
  LOCKSTEP_CHECK(!in.empty() && in[0] > 0,
                 spec() << ": expected an input with channels first, got " << shape_str(in));
  return in;
}

std::vector<ParamSpec> BatchNorm::param_specs(const Shape& in) const {
  // Scale and shift stay float32 in bf16 runs (keep_fp32): normalisation
  // computes in float32 and only its output is rounded.
  return {{"gamma", {in[0]}, Init::kOnes, in[0], in[0], /*keep_fp32=*/true},
          {"beta", {in[0]}, Init::kZeros, in[0], in[0], /*keep_fp32=*/true}};
}

std::vector<ParamSpec> BatchNorm::buffer_specs(const Shape& in) const {
  return {{"running_mean", {in[0]}, Init::kZeros, 0, 0},
          {"running_var", {in[0]}, Init::kOnes, 0, 0}};
}

void BatchNorm::bind(std::span<const Tensor> params, std::span<const Tensor> grads) {
  gamma_ = params[0];
  beta_ = params[1];
  dgamma_ = grads[0];
  dbeta_ = grads[1];
}

void BatchNorm::bind_buffers(std::span<const Tensor> buffers) {
  running_mean_ = buffers[0];
  running_var_ = buffers[1];
}

Tensor BatchNorm::forward_impl(const Tensor& x, const RunContext& ctx, uint64_t /*layer_index*/,
                               BatchNormSaved& saved) {
  const int64_t c = input_shape()[0];
  const bool train = ctx.mode == Mode::kTrain;
  ensure_shape(sums_, {2, c}, x.dtype(), x.device());
  ensure_shape(mean_, {c}, x.dtype(), x.device());
  ensure_shape(saved.inv_std, {c}, x.dtype(), x.device());
  ensure_shape(saved.xhat, x.shape(), x.dtype(), x.device());
  const bool across = sync_ && train && ctx.sum_across_ranks;
  saved.batch_stats = train;
  saved.count = static_cast<double>(x.numel() / c) * (across ? ctx.world : 1);
  if (train) {
    ops::channel_moments(x, Tensor(), c, sums_);
    if (across) ctx.sum_across_ranks(sums_);
  }
  ops::batchnorm_statistics(sums_, saved.count, eps_, momentum_, !train, running_mean_,
                            running_var_, mean_, saved.inv_std);
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::batchnorm_apply(x, mean_, saved.inv_std, gamma_, beta_, saved.xhat, y);
  saved.sum_across_ranks = across ? ctx.sum_across_ranks : SumAcrossRanks();
  return y;
}

Tensor BatchNorm::backward_impl(const BatchNormSaved& saved, const Tensor& dy, bool need_dx) {
  const int64_t c = input_shape()[0];
  // Local sums give this rank's parameter gradients (averaged across ranks
  // later, like every gradient); dx needs the sums over the whole batch.
  ops::channel_moments(dy, saved.xhat, c, sums_);
  ops::batchnorm_param_grads(sums_, dgamma_, dbeta_);
  if (!need_dx) return Tensor();
  if (!saved.batch_stats) sums_.zero();  // running statistics are constants: dx = gamma inv_std dy
  if (saved.sum_across_ranks) saved.sum_across_ranks(sums_);
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::batchnorm_input_grad(dy, saved.xhat, gamma_, saved.inv_std, sums_, saved.count, dx);
  return dx;
}

std::unique_ptr<Layer> make_batchnorm(LayerArgs& args) {
  args.bind({{"momentum", false}, {"eps", false}}, {"sync"});
  return std::make_unique<BatchNorm>(args.number("momentum", 0.1), args.number("eps", 1e-5),
                                     args.flag({"sync"}) == "sync");
}

}  // namespace lockstep
