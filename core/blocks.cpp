#include "core/blocks.hpp"

#include <sstream>

#include "core/ops.hpp"
#include "core/ops_norm.hpp"
#include "core/rng.hpp"

namespace lockstep {

// ---- BatchNorm ---------------------------------------------------------------------------

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
  return {{"gamma", {in[0]}, Init::kOnes, in[0], in[0]},
          {"beta", {in[0]}, Init::kZeros, in[0], in[0]}};
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
                               Saved& saved) {
  const int64_t c = input_shape()[0];
  const bool train = ctx.mode == Mode::kTrain;
  ensure_shape(sums_, {2, c}, x.dtype(), x.device());
  ensure_shape(mean_, {c}, x.dtype(), x.device());
  ensure_shape(saved.stats, {c}, x.dtype(), x.device());         // inv_std
  ensure_shape(saved.output, x.shape(), x.dtype(), x.device());  // xhat
  const bool across = sync_ && train && ctx.sum_across_ranks;
  batch_stats_ = train;
  count_ = static_cast<double>(x.numel() / c) * (across ? ctx.world : 1);
  if (train) {
    ops::channel_moments(x, Tensor(), c, sums_);
    if (across) ctx.sum_across_ranks(sums_);
  }
  ops::batchnorm_statistics(sums_, count_, eps_, momentum_, !train, running_mean_, running_var_,
                            mean_, saved.stats);
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::batchnorm_apply(x, mean_, saved.stats, gamma_, beta_, saved.output, y);
  saved.sum_across_ranks = across ? ctx.sum_across_ranks : SumAcrossRanks();
  return y;
}

Tensor BatchNorm::backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) {
  const int64_t c = input_shape()[0];
  // Local sums give this rank's parameter gradients (averaged across ranks
  // later, like every gradient); dx needs the sums over the whole batch.
  ops::channel_moments(dy, saved.output, c, sums_);
  ops::batchnorm_param_grads(sums_, dgamma_, dbeta_);
  if (!need_dx) return Tensor();
  if (!batch_stats_) sums_.zero();  // running statistics are constants: dx = gamma inv_std dy
  if (saved.sum_across_ranks) saved.sum_across_ranks(sums_);
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::batchnorm_input_grad(dy, saved.output, gamma_, saved.stats, sums_, count_, dx);
  return dx;
}

// ---- Residual ------------------------------------------------------------------------------

Residual::Residual(std::vector<std::unique_ptr<Layer>> body) : body_(std::move(body)) {
  LOCKSTEP_CHECK(!body_.empty(), "residual: expected at least one layer in the block");
}

std::string Residual::spec() const {
  std::string s = "residual(";
  for (size_t i = 0; i < body_.size(); ++i) s += (i ? ", " : "") + body_[i]->spec();
  return s + ")";
}

Shape Residual::output_shape(const Shape& in) const {
  Shape s = in;
  for (const auto& l : body_) s = l->output_shape(s);
  LOCKSTEP_CHECK(s == in, spec() << ": the block maps " << shape_str(in) << " to " << shape_str(s)
                                 << "; expected the same shape so that the input can be added");
  return in;
}

void Residual::on_input_shape(const Shape& in) {
  Shape s = in;
  param_counts_.clear();
  buffer_counts_.clear();
  for (const auto& l : body_) {
    param_counts_.push_back(l->param_specs(s).size());
    buffer_counts_.push_back(l->buffer_specs(s).size());
    l->set_input_shape(s);
    s = l->output_shape(s);
  }
}

namespace {

// Specs of every body layer, named "<j>.<name>".
template <class F>
std::vector<ParamSpec> collect(const std::vector<std::unique_ptr<Layer>>& body, Shape s, F specs) {
  std::vector<ParamSpec> out;
  for (size_t j = 0; j < body.size(); ++j) {
    for (ParamSpec p : specs(*body[j], s)) {
      p.name = std::to_string(j) + "." + p.name;
      out.push_back(std::move(p));
    }
    s = body[j]->output_shape(s);
  }
  return out;
}

}  // namespace

std::vector<ParamSpec> Residual::param_specs(const Shape& in) const {
  return collect(body_, in, [](const Layer& l, const Shape& s) { return l.param_specs(s); });
}

std::vector<ParamSpec> Residual::buffer_specs(const Shape& in) const {
  return collect(body_, in, [](const Layer& l, const Shape& s) { return l.buffer_specs(s); });
}

void Residual::bind(std::span<const Tensor> params, std::span<const Tensor> grads) {
  size_t at = 0;
  for (size_t j = 0; j < body_.size(); ++j) {
    body_[j]->bind(params.subspan(at, param_counts_[j]), grads.subspan(at, param_counts_[j]));
    at += param_counts_[j];
  }
}

void Residual::bind_buffers(std::span<const Tensor> buffers) {
  size_t at = 0;
  for (size_t j = 0; j < body_.size(); ++j) {
    if (buffer_counts_[j]) body_[j]->bind_buffers(buffers.subspan(at, buffer_counts_[j]));
    at += buffer_counts_[j];
  }
}

Tensor Residual::forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                              Saved& saved) {
  saved.children.resize(body_.size());
  Tensor h = x;
  for (size_t j = 0; j < body_.size(); ++j)
    h = body_[j]->forward(h, ctx, hash_keys({layer_index, j + 1}), saved.children[j]);
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::add(x, h, y);
  return y;
}

Tensor Residual::backward_impl(const Saved& saved, const Tensor& dy, bool need_dx) {
  Tensor g = dy;
  for (size_t j = body_.size(); j-- > 0;) g = body_[j]->backward(saved.children[j], g, true);
  if (!need_dx) return Tensor();
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::add(dy, g, dx);
  return dx;
}

}  // namespace lockstep
