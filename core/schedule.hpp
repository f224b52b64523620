#pragma once
// Learning-rate schedules: the rate as a pure function of the step, so that a
// resumed run continues exactly where it stopped.

#include <cstdint>
#include <string>

namespace lockstep {

enum class ScheduleKind { kConstant, kCosine, kStep, kExponential };

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::kConstant;
  double base_lr = 0.01;
  int64_t total_steps = 1;   // cosine: steps over which lr decays to min_lr
  int64_t warmup_steps = 0;  // linear warm-up from 0 to base_lr, before the schedule
  double min_lr = 0.0;       // cosine floor
  int64_t step_every = 1;    // step: multiply by gamma every step_every steps
  double gamma = 0.1;        // step: the factor; exponential: the factor per step_every steps
};

ScheduleKind parse_schedule(const std::string& name);  // constant | cosine | step | exponential
const char* to_string(ScheduleKind kind);

class LrSchedule {
 public:
  explicit LrSchedule(ScheduleOptions options);
  double lr_at(int64_t step) const;  // step counts from 0

 private:
  ScheduleOptions o_;
};

}  // namespace lockstep
