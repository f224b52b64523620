#pragma once
// One whole training run from a RunConfig: the run directory, placement on a
// GPU or the CPU, the data, the model, the schedule, resume or initial
// weights, training with checkpoints, validation and early stopping, and the
// saved models. `lockstep train` calls it once; sweeps and cross-validation
// (trainer/tuning.hpp) once per trial or fold.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "io/model_file.hpp"
#include "trainer/run_config.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::comm {
class MpiSession;
class Watchdog;
}  // namespace lockstep::comm

namespace lockstep::trainer {

/// What a run is about to do (rank 0 prints it).
struct RunSetup {
  const RunConfig* config = nullptr;  // the run's configuration
  int ranks = 1;
  bool gpu = false;
  std::string grad_backend;  // "nccl", "mpi"
  std::string placements;    // one line per host: its ranks and devices
  int cpu_threads = 1;
  io::DatasetInfo data;
  int64_t train_rows = 0, local_rows = 0;
  int64_t val_rows = 0;  // 0: no validation
  int64_t num_params = 0;
  std::string model_spec;
  int64_t steps_per_epoch = 0;
  int64_t batch_size = 0;    // per rank and micro-batch
  int64_t global_batch = 0;  // per optimizer step, all ranks (and micro-batches)
  double base_lr = 0.0;      // after optim.scale_lr
  int64_t optimizer_state_bytes = 0;  // this rank's
  bool sharded = false;               // dist.shard_optimizer: 1/ranks of the state
  std::string run_dir;
  std::string start_from;  // a checkpoint resumed or weights loaded; "" when fresh
  bool resuming = false;
  int64_t start_step = 0;
};

/// How a run ended.
enum class RunEnd {
  kFinished,           // every epoch trained (or early stopping); final.h5 written
  kStoppedBySignal,    // a stop signal, after a checkpoint: exit code kExitStopped
  kStoppedAfterSteps,  // train.stop_after_steps, after a checkpoint
};

struct RunOutcome {
  RunEnd end = RunEnd::kFinished;
  int exit_code = 0;  // 0, or kExitStopped after a stop signal
  int signal = 0;     // kStoppedBySignal: the signal
  int64_t step = 0;   // global steps done
  std::string run_dir;
  std::string last_checkpoint;          // rank 0: the last one written ("" when none)
  std::vector<EpochRecord> records;     // the epochs trained by this call
  double seconds = 0.0;                 // training time
  std::optional<io::BestRecord> best;   // with validation data: the best epoch (best.h5)
  bool stopped_before = false;          // a resumed run that early stopping had ended
};

/// What the process around a run provides (launch/ fills it in).
struct RunHooks {
  /// Called with the run's collective watchdog once it watches, and with
  /// nullptr before it goes (stop-signal handlers report where a rank waits).
  std::function<void(const comm::Watchdog*)> watchdog;
  /// Rank 0, once the run is set up, before training.
  std::function<void(const RunSetup&)> started;
  /// Rank 0: a line worth showing the user (`warning`: on stderr).
  std::function<void(const std::string& line, bool warning)> note;
};

/// Collective: trains with `config` on every rank of the job (the same on
/// every rank; `config_ini` is its effective INI text, checked across ranks
/// and saved with the run). Errors are thrown (a comm::CollectiveError when
/// every rank has it).
RunOutcome run_training(const RunConfig& config, const std::string& config_ini,
                        comm::MpiSession& mpi, const RunHooks& hooks = {});

/// The run directory's marker while a run is stopped by a signal with a
/// checkpoint: "<exit code> <signal> step <step> <checkpoint>".
constexpr const char* kStoppedMarker = "stopped";

/// "SIGTERM", "SIGUSR1", or "a signal".
const char* stop_signal_name(int signal);

}  // namespace lockstep::trainer
