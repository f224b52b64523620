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

Sgd::Sgd(const Tensor& params_like, SgdOptions options)
    : options_(options),
      velocity_(Tensor::zeros(params_like.shape(), params_like.dtype(), params_like.device())) {
  check_options(options);
}

void Sgd::step(Tensor& params, const Tensor& grads, double lr) {
  ops::sgd_step(params, grads, velocity_, lr, options_.momentum, options_.weight_decay,
                options_.nesterov);
  ++steps_;
}

Adam::Adam(const Tensor& params_like, AdamOptions options)
    : options_(options),
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

void Adam::step(Tensor& params, const Tensor& grads, double lr) {
  ++steps_;
  ops::adam_step(params, grads, m_, v_, lr, options_.beta1, options_.beta2, options_.eps,
                 options_.weight_decay, options_.decoupled, steps_);
}

}  // namespace lockstep
