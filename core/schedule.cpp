#include "core/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace lockstep {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "constant") return ScheduleKind::kConstant;
  if (name == "cosine") return ScheduleKind::kCosine;
  if (name == "step") return ScheduleKind::kStep;
  if (name == "exponential" || name == "exp") return ScheduleKind::kExponential;
  LOCKSTEP_FAIL("optim.schedule: expected constant, cosine, step or exponential, got '" << name
                                                                                        << "'");
}

const char* to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kConstant:
      return "constant";
    case ScheduleKind::kCosine:
      return "cosine";
    case ScheduleKind::kStep:
      return "step";
    case ScheduleKind::kExponential:
      return "exponential";
  }
  return "?";
}

LrSchedule::LrSchedule(ScheduleOptions options) : o_(options) {
  LOCKSTEP_CHECK(o_.base_lr > 0.0, "optim.lr: expected > 0, got " << o_.base_lr);
  // The config gives these in epochs (optim.warmup_epochs, optim.step_epochs);
  // the schedule works in steps.
  LOCKSTEP_CHECK(o_.warmup_steps >= 0,
                 "optim.warmup_epochs: expected a warm-up of >= 0 steps, got " << o_.warmup_steps);
  LOCKSTEP_CHECK(
      o_.step_every > 0,
      "optim.step_epochs: expected a decay interval of > 0 steps, got " << o_.step_every);
  LOCKSTEP_CHECK(o_.gamma > 0.0, "optim.gamma: expected > 0, got " << o_.gamma);
  LOCKSTEP_CHECK(o_.min_lr >= 0.0 && o_.min_lr <= o_.base_lr,
                 "optim.min_lr: expected a value in [0, lr], got " << o_.min_lr);
}

double LrSchedule::lr_at(int64_t step) const {
  if (step < o_.warmup_steps)
    return o_.base_lr * static_cast<double>(step + 1) / static_cast<double>(o_.warmup_steps);
  const int64_t s = step - o_.warmup_steps;
  switch (o_.kind) {
    case ScheduleKind::kConstant:
      return o_.base_lr;
    case ScheduleKind::kStep:
      return o_.base_lr * std::pow(o_.gamma, static_cast<double>(s / o_.step_every));
    case ScheduleKind::kExponential:
      return o_.base_lr *
             std::pow(o_.gamma, static_cast<double>(s) / static_cast<double>(o_.step_every));
    case ScheduleKind::kCosine: {
      const int64_t span = std::max<int64_t>(1, o_.total_steps - o_.warmup_steps);
      const double t = std::min(1.0, static_cast<double>(s) / static_cast<double>(span));
      return o_.min_lr + 0.5 * (o_.base_lr - o_.min_lr) * (1.0 + std::cos(M_PI * t));
    }
  }
  return o_.base_lr;
}

}  // namespace lockstep
