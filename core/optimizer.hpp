#pragma once
// Optimizers update the parameter slab from the gradient slab in one fused
// pass. Their state lives in slabs of the same layout (named, so that a
// checkpoint can save and restore it). The step's per-step values (learning
// rate, clipping, the skip decision, the step count) live in a small control
// block on the slab's device (core/ops/optim.hpp, "Note: the step control
// block"), so a GPU step neither waits for the host nor is waited for.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "core/transfer.hpp"

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
  /// params -= f(grads, state) at learning rate lr (no clipping, never
  /// skipped).
  void step(Tensor& params, const Tensor& grads, double lr);
  /// A training step's update, decided on the slab's device: the gradient's
  /// sum of squares (one float64 or float32 element there, ops::sum_squares)
  /// gives the norm; a non-finite norm leaves params and state untouched, a
  /// norm above clip_norm (> 0) scales the gradients to it. = set_inputs,
  /// then apply.
  void step(Tensor& params, const Tensor& grads, const Tensor& sum_squares, double lr,
            double clip_norm);
  /// The host's part of a step: uploads lr and clip_norm into the control
  /// block (one asynchronous copy; outside a captured CUDA graph).
  void set_inputs(double lr, double clip_norm);
  /// The device's part: the decisions (ops::prepare_step), then the fused
  /// pass; no host value, so a CUDA graph can replay it.
  void apply(Tensor& params, const Tensor& grads, const Tensor& sum_squares);
  /// The control block (ops::StepSlot): after apply(), its kSlotSkipped and
  /// kSlotNorm describe the step; read them back asynchronously.
  const Tensor& control() const { return control_; }
  /// Named state slabs (same layout as the parameters).
  virtual std::vector<std::pair<std::string, Tensor>> state() = 0;
  /// Updates applied so far (part of the state: Adam's bias correction needs
  /// it). Counted on the device: reading it from a GPU waits for the steps
  /// queued so far.
  int64_t steps() const;
  void set_steps(int64_t steps);

 protected:
  explicit Optimizer(const Tensor& params_like);
  /// The fused pass over the slab, reading control_ (ops::sgd_step, ...).
  virtual void update(Tensor& params, const Tensor& grads) = 0;
  /// Betas of the bias corrections prepare_step computes (0: none).
  virtual std::pair<double, double> betas() const { return {0.0, 0.0}; }

 private:
  Tensor control_;  // (kStepSlots,) float64 on the slab's device
  Tensor no_norm_;  // (1,) float64 zero: step() without clipping
  Upload upload_;
};

class Adam final : public Optimizer {
 public:
  Adam(const Tensor& params_like, AdamOptions options);
  std::string name() const override { return options_.decoupled ? "adamw" : "adam"; }
  std::vector<std::pair<std::string, Tensor>> state() override {
    return {{"exp_avg", m_}, {"exp_avg_sq", v_}};
  }

 private:
  void update(Tensor& params, const Tensor& grads) override;
  std::pair<double, double> betas() const override { return {options_.beta1, options_.beta2}; }
  AdamOptions options_;
  Tensor m_, v_;
};

class Sgd final : public Optimizer {
 public:
  Sgd(const Tensor& params_like, SgdOptions options);
  std::string name() const override { return "sgd"; }
  std::vector<std::pair<std::string, Tensor>> state() override { return {{"velocity", velocity_}}; }
  const SgdOptions& options() const { return options_; }

 private:
  void update(Tensor& params, const Tensor& grads) override;
  SgdOptions options_;
  Tensor velocity_;
};

/// The optimizer named `name`: "sgd" with `sgd`; "adam" or "adamw" with `adam`
/// (decoupled weight decay for adamw), state shaped like `params_like`.
/// Throws naming optim.name for any other name.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, const SgdOptions& sgd,
                                          AdamOptions adam, const Tensor& params_like);

}  // namespace lockstep
