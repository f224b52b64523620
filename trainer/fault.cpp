#include "trainer/fault.hpp"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "core/error.hpp"

namespace lockstep::trainer {

namespace {

constexpr const char* kExpected = "expected 'rank=R,step=S,action=exit|kill|hang|nan'";

int64_t parse_count(const std::string& key, const std::string& value, const std::string& text) {
  size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (value.empty() || used != value.size() || v < 0)
    throw Error("LOCKSTEP_FAULT: " + std::string(kExpected) + ", got '" + text + "' (" + key +
                " must be an integer >= 0, got '" + value + "')");
  return v;
}

}  // namespace

FaultPlan parse_fault(const std::string& text) {
  FaultPlan plan;
  bool have_rank = false, have_step = false, have_action = false;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (eq == std::string::npos)
      throw Error("LOCKSTEP_FAULT: " + std::string(kExpected) + ", got '" + text + "' ('" + item +
                  "' has no '=')");
    if (key == "rank") {
      plan.rank = static_cast<int>(parse_count(key, value, text));
      have_rank = true;
    } else if (key == "step") {
      plan.step = parse_count(key, value, text);
      have_step = true;
    } else if (key == "action") {
      if (value == "exit") {
        plan.action = FaultPlan::Action::kExit;
      } else if (value == "kill") {
        plan.action = FaultPlan::Action::kKill;
      } else if (value == "hang") {
        plan.action = FaultPlan::Action::kHang;
      } else if (value == "nan") {
        plan.action = FaultPlan::Action::kNan;
      } else {
        throw Error("LOCKSTEP_FAULT: " + std::string(kExpected) + ", got '" + text +
                    "' (unknown action '" + value + "')");
      }
      have_action = true;
    } else {
      throw Error("LOCKSTEP_FAULT: " + std::string(kExpected) + ", got '" + text +
                  "' (unknown key '" + key + "')");
    }
  }
  if (!have_rank || !have_step || !have_action)
    throw Error("LOCKSTEP_FAULT: " + std::string(kExpected) + ", got '" + text + "' (missing " +
                (!have_rank   ? "rank"
                 : !have_step ? "step"
                              : "action") +
                ")");
  return plan;
}

bool inject_fault(const FaultPlan& plan) {
  const auto say = [&](const char* what) {
    std::fflush(stdout);
    std::fprintf(stderr, "lockstep: fault injection: rank %d %s at step %lld\n", plan.rank, what,
                 static_cast<long long>(plan.step));
    std::fflush(stderr);
  };
  switch (plan.action) {
    case FaultPlan::Action::kNone:
      return false;
    case FaultPlan::Action::kExit:
      say("exits");
      ::_exit(kExitFaultInjected);
    case FaultPlan::Action::kKill:
      say("is killed (SIGKILL)");
      std::raise(SIGKILL);
      ::_exit(kExitFaultInjected);  // not reached
    case FaultPlan::Action::kHang:
      say("hangs (stops participating)");
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    case FaultPlan::Action::kNan:
      say("poisons its loss and gradients with NaN");
      return true;
  }
  return false;
}

}  // namespace lockstep::trainer
