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

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  /// params -= f(grads, state) at learning rate lr.
  virtual void step(Tensor& params, const Tensor& grads, double lr) = 0;
  /// Named state slabs (same layout as the parameters).
  virtual std::vector<std::pair<std::string, Tensor>> state() = 0;
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

}  // namespace lockstep
