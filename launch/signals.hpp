#pragma once
// Stop requests by signal (preemption): SIGTERM and SIGUSR1 ask the run to stop
// at the next step boundary, where every rank agrees on it, writes a checkpoint
// and exits with trainer::kExitStopped. A second such signal ends the process
// at once (the default action).

namespace lockstep::comm {
class Watchdog;
}

namespace lockstep::launch {

/// Installs the handlers for SIGTERM and SIGUSR1 (idempotent). When a watchdog
/// is given, the first signal also prints where this rank is ("lockstep: rank
/// R at step S, in allreduce ...") — what a rank killed by mpirun after a peer
/// failed leaves behind. The watchdog must outlive the handlers' use of it:
/// call install_stop_handlers(nullptr) before it goes.
void install_stop_handlers(const comm::Watchdog* watchdog);
/// The first stop signal received so far, 0 if none (async-signal-safe read).
int pending_stop_signal();

}  // namespace lockstep::launch
