#pragma once
// What `lockstep train` (and each run of a sweep or cross-validation) tells
// the user: the hooks a training run calls (stop signals, the set-up summary,
// notes), and the summary of how it ended. Rank 0 prints.

#include "trainer/run.hpp"

namespace lockstep::launch {

/// Hooks for trainer::run_training: stop-signal handlers that know the run's
/// watchdog, and rank 0's set-up summary and notes headed "lockstep <command>:".
trainer::RunHooks run_hooks(const char* command, int local_ranks);

/// What the process hands a run: stop requests by signal (launch/signals.hpp)
/// and the fault to inject, from LOCKSTEP_FAULT (tests; trainer/fault.hpp).
void attach_process_inputs(trainer::RunConfig& config);

/// Rank 0: how the run ended ("done in 12.3s; model saved to ...", test
/// figures, the best epoch; or where it stopped).
void print_outcome(const trainer::RunOutcome& outcome, const trainer::RunConfig& config);

}  // namespace lockstep::launch
