#pragma once
// Stop requests by signal (preemption): SIGTERM and SIGUSR1 ask the run to stop
// at the next step boundary, where every rank agrees on it, writes a checkpoint
// and exits with trainer::kExitStopped. A second such signal ends the process
// at once (the default action).

namespace lockstep::launch {

/// Installs the handlers for SIGTERM and SIGUSR1 (idempotent).
void install_stop_handlers();
/// The first stop signal received so far, 0 if none (async-signal-safe read).
int pending_stop_signal();
/// "SIGTERM", "SIGUSR1", or "a signal".
const char* signal_name(int signal);

}  // namespace lockstep::launch
