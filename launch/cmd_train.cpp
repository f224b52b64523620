// lockstep train: arguments -> configuration -> trainer::run_training -> report.

#include <cstdio>

#include "comm/mpi.hpp"
#include "launch/commands.hpp"
#include "launch/options.hpp"
#include "launch/train_report.hpp"

namespace lockstep::launch {

int run_train(int argc, char** argv, comm::MpiSession& mpi) {
  ConfigValues values;
  std::vector<std::string> notes;
  try {
    if (!parse_train_args(argc, argv, values, &notes)) return 0;
  } catch (const Error& e) {
    // Every rank parses the same arguments and fails the same way: end cleanly.
    throw comm::CollectiveError(e.what());
  }
  if (mpi.world_rank() == 0)
    for (const std::string& note : notes) std::printf("lockstep train: note: %s\n", note.c_str());
  RunConfig cfg;
  {
    comm::MpiCommunicator comm;
    comm::check_on_all_ranks(comm, [&] { cfg = to_run_config(values); });
  }
  attach_process_inputs(cfg);
  const trainer::RunOutcome outcome =
      trainer::run_training(cfg, to_ini(values), mpi, run_hooks("train", mpi.local_size()));
  if (mpi.world_rank() == 0) print_outcome(outcome, cfg);
  return outcome.exit_code;
}

}  // namespace lockstep::launch
