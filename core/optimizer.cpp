#include "core/optimizer.hpp"

#include "core/ops/optim.hpp"

namespace lockstep {

void check_options(const SgdOptions& options) {
  LOCKSTEP_CHECK(options.momentum >= 0.0 && options.momentum < 1.0,
                 "optim.momentum: expected a value in [0, 1), got " << options.momentum);
  LOCKSTEP_CHECK(options.weight_decay >= 0.0,
                 "optim.weight_decay: expected >= 0, got " << options.weight_decay);
  LOCKSTEP_CHECK(!options.nesterov || options.momentum > 0.0,
                 "optim.nesterov: Nesterov momentum needs optim.momentum > 0");
}

void check_options(const AdamOptions& options) {
  LOCKSTEP_CHECK(options.beta1 >= 0 && options.beta1 < 1,
                 "optim.beta1: expected a value in [0, 1), got " << options.beta1);
  LOCKSTEP_CHECK(options.beta2 >= 0 && options.beta2 < 1,
                 "optim.beta2: expected a value in [0, 1), got " << options.beta2);
  LOCKSTEP_CHECK(options.eps > 0, "optim.eps: expected > 0, got " << options.eps);
  LOCKSTEP_CHECK(options.weight_decay >= 0,
                 "optim.weight_decay: expected >= 0, got " << options.weight_decay);
}

Optimizer::Optimizer(const Tensor& params_like)
    : control_(Tensor::zeros({ops::kStepSlots}, DType::kF64, params_like.device())),
      no_norm_(Tensor::zeros({1}, DType::kF64, params_like.device())) {}

void Optimizer::step(Tensor& params, const Tensor& grads, double lr) {
  step(params, grads, no_norm_, lr, 0.0);
}

void Optimizer::step(Tensor& params, const Tensor& grads, const Tensor& sum_squares, double lr,
                     double clip_norm) {
  set_inputs(lr, clip_norm);
  apply(params, grads, sum_squares);
}

void Optimizer::set_inputs(double lr, double clip_norm) {
  const double inputs[ops::kStepInputs] = {lr, clip_norm};
  upload_.send(inputs, control_);
}

void Optimizer::apply(Tensor& params, const Tensor& grads, const Tensor& sum_squares) {
  const auto [beta1, beta2] = betas();
  ops::prepare_step(sum_squares, control_, beta1, beta2);
  update(params, grads);
}

int64_t Optimizer::steps() const {
  Tensor host = Tensor::empty({ops::kStepSlots}, DType::kF64);
  host.copy_from(control_);
  return static_cast<int64_t>(host.data<double>()[ops::kSlotSteps]);
}

void Optimizer::set_steps(int64_t steps) {
  Tensor host = Tensor::empty({ops::kStepSlots}, DType::kF64);
  host.copy_from(control_);
  host.data<double>()[ops::kSlotSteps] = static_cast<double>(steps);
  control_.copy_from(host);
}

Sgd::Sgd(const Tensor& params_like, SgdOptions options)
    : Optimizer(params_like),
      options_(options),
      velocity_(Tensor::zeros(params_like.shape(), params_like.dtype(), params_like.device())) {
  check_options(options);
}

void Sgd::update(Tensor& params, const Tensor& grads) {
  ops::sgd_step(params, grads, velocity_, control(), options_.momentum, options_.weight_decay,
                options_.nesterov);
}

Adam::Adam(const Tensor& params_like, AdamOptions options)
    : Optimizer(params_like),
      options_(options),
      m_(Tensor::zeros(params_like.shape(), params_like.dtype(), params_like.device())),
      v_(Tensor::zeros(params_like.shape(), params_like.dtype(), params_like.device())) {
  check_options(options);
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, const SgdOptions& sgd,
                                          AdamOptions adam, const Tensor& params_like) {
  if (name == "sgd") return std::make_unique<Sgd>(params_like, sgd);
  LOCKSTEP_CHECK(name == "adam" || name == "adamw",
                 "optim.name: expected sgd, adam or adamw, got '" << name << "'");
  adam.decoupled = name == "adamw";
  return std::make_unique<Adam>(params_like, adam);
}

void Adam::update(Tensor& params, const Tensor& grads) {
  ops::adam_step(params, grads, m_, v_, control(), options_.beta1, options_.beta2, options_.eps,
                 options_.weight_decay, options_.decoupled);
}

}  // namespace lockstep
