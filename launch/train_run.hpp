#pragma once
// One whole training run from a configuration: what `lockstep train` does after
// parsing its arguments, callable once per trial by `lockstep sweep` and once
// per fold by `lockstep cv`.

#include <string>
#include <vector>

#include "launch/options.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::comm {
class MpiSession;
}

namespace lockstep::launch {

/// What a finished (or stopped) run reports back.
struct TrainOutcome {
  std::string run_dir;
  std::vector<trainer::EpochRecord> records;  // the epochs trained by this call
  double seconds = 0.0;                       // training time
};

/// Collective: trains with `values` on every rank of the job (same values on
/// every rank). Returns the exit code of `lockstep train` (0, or
/// trainer::kExitStopped after a stop signal); errors are thrown (a
/// comm::CollectiveError when every rank has it). Fills `outcome` when given.
int train_with_config(const ConfigValues& values, comm::MpiSession& mpi,
                      TrainOutcome* outcome = nullptr);

}  // namespace lockstep::launch
