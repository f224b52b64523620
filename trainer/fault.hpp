#pragma once
// Fault injection for tests (README "Failure behaviour"): the environment
// variable LOCKSTEP_FAULT = "rank=R,step=S,action=A" makes rank R, at the start
// of global step S (the step after S steps are done), do A:
//   exit  print "lockstep: fault injection: rank R exits at step S", _exit(7)
//   kill  print a line, then raise(SIGKILL)
//   hang  print a line, then sleep forever (stop participating)
//   nan   poison this rank's loss and gradients with NaN for that step only
//         (the NaN then reaches every rank through the gradient all-reduce)
// launch/ reads the variable (unset or empty: no fault) and hands the plan to
// the trainer in TrainOptions::fault.

#include <cstdint>
#include <string>

namespace lockstep::trainer {

/// Exit code of a rank ended by `action=exit`.
inline constexpr int kExitFaultInjected = 7;

struct FaultPlan {
  enum class Action { kNone, kExit, kKill, kHang, kNan };
  Action action = Action::kNone;
  int rank = -1;
  int64_t step = -1;

  bool due(int r, int64_t s) const { return action != Action::kNone && r == rank && s == step; }
};

/// Parses "rank=1,step=5,action=exit" (keys in any order, all three required).
/// Throws Error naming LOCKSTEP_FAULT, what was expected and what was found.
FaultPlan parse_fault(const std::string& text);

/// Carries out a due fault: exit, kill and hang do not return; returns true
/// for nan (the caller poisons the step).
bool inject_fault(const FaultPlan& plan);

}  // namespace lockstep::trainer
