#pragma once
// Optimizers update the parameter slab from the gradient slab in one fused
// pass. Their state lives in slabs of the same layout (named, so that a
// checkpoint can save and restore it).

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace lockstep {

struct SgdOptions {
  double momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;  // L2: adds weight_decay * w to the gradient
};

struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;  // AdamW: decay the weights directly, not through the gradient
};

/// The rules of the options (one place; the config keys optim.* rely on them):
/// throw naming the key and the bad value.
void check_options(const SgdOptions& options);
void check_options(const AdamOptions& options);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  /// params -= f(grads, state) at learning rate lr.
  virtual void step(Tensor& params, const Tensor& grads, double lr) = 0;
  /// Named state slabs (same layout as the parameters).
  virtual std::vector<std::pair<std::string, Tensor>> state() = 0;
  /// Steps taken so far (part of the state: Adam's bias correction needs it).
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }

 protected:
  int64_t steps_ = 0;
};

class Adam final : public Optimizer {
 public:
  Adam(const Tensor& params_like, AdamOptions options);
  std::string name() const override { return options_.decoupled ? "adamw" : "adam"; }
  void step(Tensor& params, const Tensor& grads, double lr) override;
  std::vector<std::pair<std::string, Tensor>> state() override {
    return {{"exp_avg", m_}, {"exp_avg_sq", v_}};
  }

 private:
  AdamOptions options_;
  Tensor m_, v_;
};

class Sgd final : public Optimizer {
 public:
  Sgd(const Tensor& params_like, SgdOptions options);
  std::string name() const override { return "sgd"; }
  void step(Tensor& params, const Tensor& grads, double lr) override;
  std::vector<std::pair<std::string, Tensor>> state() override { return {{"velocity", velocity_}}; }
  const SgdOptions& options() const { return options_; }

 private:
  SgdOptions options_;
  Tensor velocity_;
};

/// The optimizer named `name`: "sgd" with `sgd`; "adam" or "adamw" with `adam`
/// (decoupled weight decay for adamw), state shaped like `params_like`.
/// Throws naming optim.name for any other name.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, const SgdOptions& sgd,
                                          AdamOptions adam, const Tensor& params_like);

}  // namespace lockstep
