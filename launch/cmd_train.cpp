// lockstep train: configuration -> data -> model -> training -> saved model.

#include <cblas.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "comm/mpi.hpp"
#include "comm/nccl.hpp"
#include "comm/placement.hpp"
#include "comm/watchdog.hpp"
#include "core/device.hpp"
#include "core/threads.hpp"
#include "io/model_file.hpp"
#include "launch/commands.hpp"
#include "launch/options.hpp"
#include "launch/signals.hpp"
#include "launch/train_run.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/model_io.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::launch {

namespace {

// In the run directory while the run is stopped by a signal with a checkpoint.
constexpr const char* kStoppedMarker = "stopped";

int host_cores() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// The cores of the host divided among its ranks (at least 1).
int host_share(int local_ranks) {
  return std::max(1, host_cores() / std::max(1, local_ranks));
}

}  // namespace

void configure_threads(int requested, int local_ranks) {
  if (requested > 0) {
    set_cpu_threads(requested);
    return;
  }
  if (std::getenv("OPENBLAS_NUM_THREADS") || std::getenv("OMP_NUM_THREADS")) return;  // the user's
  // A rank bound to some cores (mpirun --bind-to core, srun --cpus-per-task)
  // uses those; an unbound rank shares the host's cores with its local peers.
  const int allowed = available_cpus();
  set_cpu_threads(allowed < host_cores() ? allowed : host_share(local_ranks));
}

namespace {

// A hint when the rank is bound to fewer cores than its share of the host.
std::string binding_note(int local_ranks) {
  const int allowed = available_cpus();
  if (allowed >= host_share(local_ranks)) return "";
  return " (rank 0 is bound to " + std::to_string(allowed) + " of " + std::to_string(host_cores()) +
         " CPUs; with mpirun, --bind-to none lifts that)";
}

std::string default_run_name() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "train-%Y%m%d-%H%M%S", &tm);
  return buf;
}

// Run directory: named by rank 0, which writes it. A directory of that name
// that holds anything is refused before anything is read or written, unless
// the run is resumed (its checkpoints are there) or log.overwrite (deleted
// when the new run starts writing). Rank 0 decides; every rank throws the
// same error.
std::string claim_run_dir(const RunConfig& cfg, comm::Communicator& comm) {
  std::string name =
      comm.rank() == 0 ? (cfg.run_name.empty() ? default_run_name() : cfg.run_name) : "";
  name = comm::broadcast_string(comm, name, 0);
  const std::string run_dir = (std::filesystem::path(cfg.log_dir) / name).string();
  std::string error;
  if (comm.rank() == 0 && cfg.resume.empty() && !cfg.log_overwrite) {
    std::error_code ec;
    if (std::filesystem::exists(run_dir, ec) && !std::filesystem::is_empty(run_dir, ec))
      error = "run directory '" + run_dir + "' already exists (log.dir = " + cfg.log_dir +
              ", log.name = " + name +
              "): expected a new log.name; continue that run with --checkpoint.resume auto, or "
              "replace it (deleting it) with --log.overwrite true";
  }
  error = comm::broadcast_string(comm, error, 0);
  if (!error.empty()) throw comm::CollectiveError(error);
  return run_dir;
}

}  // namespace

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
  return train_with_config(values, mpi);
}

int train_with_config(const ConfigValues& values, comm::MpiSession& mpi, TrainOutcome* outcome) {
  comm::MpiCommunicator comm;  // host collectives, data, bootstrap
  const bool root = comm.rank() == 0;

  // Every rank must run the same configuration (before any data-path collective).
  RunConfig cfg;
  comm::check_on_all_ranks(comm, [&] { cfg = to_run_config(values); });
  comm::check_same_across_ranks(comm, comm::fnv1a(to_ini(values)), "the training configuration");
  const std::string run_dir = claim_run_dir(cfg, comm);
  // From here on, a collective that waits longer than dist.timeout ends the job.
  comm::Watchdog watchdog(comm.rank(), cfg.timeout_s);
  comm.set_watchdog(&watchdog);
  configure_threads(cfg.threads, mpi.local_size());
  const comm::Placement place =
      comm::place_rank(mpi, comm, comm::parse_device_request(cfg.device), cfg.allow_shared_gpu);
  const std::string placements = comm::gather_placements(comm, place);
  std::unique_ptr<comm::Communicator> nccl;
  if (place.gpu) {
    comm::check_on_all_ranks(
        comm, [&] { device::select(place.device, device::parse_precision(cfg.precision)); });
    nccl = comm::make_nccl_communicator(comm);
  }
  comm::Communicator& grad_comm = nccl ? *nccl : static_cast<comm::Communicator&>(comm);
  const Device model_device = place.gpu ? Device::kCuda : Device::kCpu;

  // Training labels only: checks need them; features come through the input pipeline.
  trainer::RunData run_data = trainer::open_run_data(
      cfg.train_data, {cfg.val_path, cfg.val_fraction, cfg.val_seed, cfg.folds, cfg.fold},
      cfg.train.eval_batch_size, comm);
  trainer::ShardedData& train_data = *run_data.train;
  trainer::ShardedData* val_data = run_data.val.get();
  std::unique_ptr<trainer::ShardedData> test_data;
  if (!cfg.test_path.empty()) {
    trainer::DataOptions t = cfg.train_data;
    t.spec.path = cfg.test_path;
    t.limit = 0;  // the whole test set
    t.shard_block = cfg.train.eval_batch_size;
    test_data = std::make_unique<trainer::ShardedData>(t, comm);
  }
  const io::DatasetInfo& info = train_data.info();
  {
    std::ostringstream schema;
    schema << info.num_samples << shape_str(info.sample_shape) << to_string(info.feature_type)
           << to_string(info.label_kind) << info.target_dim;
    comm::check_same_across_ranks(comm, comm::fnv1a(schema.str()), "the training dataset schema");
  }

  std::unique_ptr<Model> model;
  comm::check_on_all_ranks(comm, [&] {
    model = std::make_unique<Model>(cfg.layers, info.sample_shape, DType::kF32, model_device);
    LOCKSTEP_CHECK(model->output_shape().size() == 1,
                   "model.layers: expected the last layer to give a vector of outputs, it gives "
                       << shape_str(model->output_shape()));
  });
  const trainer::ModelInterface iface{info.sample_shape, model->output_shape()[0],
                                      cfg.loss == LossKind::kCrossEntropy};
  trainer::check_output_width(iface, model->layer(model->num_layers() - 1).spec(), run_data, comm);
  train_data.check_fits(iface, comm);
  if (test_data) test_data->check_fits(iface, comm);
  if (val_data) val_data->check_fits(iface, comm);

  // Batch sizes and the schedule.
  if (cfg.global_batch_size > 0) {
    const int64_t p = comm.size();
    if (cfg.global_batch_size % p != 0)
      throw comm::CollectiveError("train.global_batch_size: expected a multiple of the " +
                                  std::to_string(p) + " ranks, got " +
                                  std::to_string(cfg.global_batch_size));
    cfg.train.batch_size = cfg.global_batch_size / p;
  }
  int64_t steps_per_epoch = 0;
  comm::check_on_all_ranks(comm, [&] {
    steps_per_epoch = io::ShardSampler(train_data.num_rows(), comm.size(), comm.rank(),
                                       cfg.train.batch_size, cfg.train.seed)
                          .steps_per_epoch();
  });
  ScheduleOptions sched = cfg.schedule;
  sched.base_lr = cfg.lr;
  if (cfg.scale_lr > 0) {  // linear scaling rule (Goyal et al.)
    sched.base_lr = cfg.lr * static_cast<double>(cfg.train.batch_size * comm.size()) /
                    static_cast<double>(cfg.scale_lr);
    sched.min_lr = std::min(sched.min_lr, sched.base_lr);
  }
  sched.total_steps = std::max<int64_t>(1, steps_per_epoch * cfg.train.epochs);
  sched.warmup_steps = static_cast<int64_t>(std::llround(cfg.warmup_epochs * steps_per_epoch));
  sched.step_every = std::max<int64_t>(1, cfg.schedule.step_every * steps_per_epoch);

  // Preemption: SIGTERM / SIGUSR1 stop the run at the next step boundary.
  install_stop_handlers(&watchdog);
  struct ForgetWatchdog {  // before the watchdog goes (it was declared first)
    ~ForgetWatchdog() { install_stop_handlers(nullptr); }
  } forget_watchdog;
  cfg.train.stop_signal = pending_stop_signal;
  // Fault injection for the failure tests (trainer/fault.hpp): the same on every rank.
  if (const char* fault = std::getenv("LOCKSTEP_FAULT"); fault != nullptr && *fault != '\0')
    cfg.train.fault = trainer::parse_fault(fault);
  model->init_params(cfg.train.seed, cfg.init);
  AdamOptions adam = cfg.adam;
  adam.weight_decay = cfg.weight_decay;
  const std::unique_ptr<Optimizer> optimizer =
      make_optimizer(cfg.optimizer, SgdOptions{cfg.momentum, cfg.nesterov, cfg.weight_decay}, adam,
                     model->params());
  trainer::Trainer trainer(grad_comm, *model, Loss(cfg.loss), *optimizer, LrSchedule(sched),
                           cfg.train);

  trainer::CheckpointOptions ckpt = cfg.checkpoint;
  if (ckpt.dir.empty()) ckpt.dir = run_dir + "/checkpoints";

  // Starting point: a checkpoint to resume, weights to start from, or fresh.
  std::string start_from;
  bool resuming = false;
  std::optional<io::BestRecord> resumed_best;  // the checkpoint's early-stopping state
  comm::check_on_all_ranks(comm, [&] {
    std::optional<io::SavedModel> found;
    if (cfg.resume == "auto") {
      // The newest checkpoint that loads; damaged newer ones are passed over, loudly.
      trainer::FoundCheckpoint latest = trainer::load_latest_checkpoint(ckpt.dir);
      for (const auto& skipped : latest.skipped) {
        if (root)
          std::fprintf(stderr, "lockstep train: warning: checkpoint.resume = auto: skipping %s\n",
                       skipped.c_str());
      }
      start_from = latest.path;
      resuming = !start_from.empty();
      if (resuming) found = std::move(latest.model);
    } else if (!cfg.resume.empty()) {
      start_from = cfg.resume;
      resuming = true;
    } else {
      start_from = cfg.init_from;
    }
    if (start_from.empty()) return;
    const io::SavedModel saved = found ? std::move(*found) : io::load_model(start_from);
    trainer::restore_state(saved, start_from, *model, resuming ? optimizer.get() : nullptr);
    if (resuming) {
      LOCKSTEP_CHECK(saved.training, "checkpoint.resume: '"
                                         << start_from
                                         << "' is a saved model, not a checkpoint "
                                            "(use checkpoint.init to start from "
                                            "its weights)");
      const io::TrainingState& t = *saved.training;
      trainer.resume({t.step, t.epoch, t.step_in_epoch});
      resumed_best = saved.best;
    }
  });
  trainer.broadcast_parameters();
  trainer::MetricsFile metrics;
  std::optional<std::string> dir_error;
  if (root) {
    try {
      if (cfg.log_overwrite && std::filesystem::exists(run_dir)) {
        std::filesystem::remove_all(run_dir);
        std::printf("lockstep train: log.overwrite: deleted the previous run directory %s\n",
                    run_dir.c_str());
      }
      std::filesystem::create_directories(run_dir);
      std::filesystem::remove(run_dir + "/" + kStoppedMarker);  // a resumed run's old one
      std::ofstream(run_dir + "/config.ini") << to_ini(values);
      metrics = trainer::MetricsFile(run_dir + "/metrics.jsonl");
      if (cfg.log_tensorboard) metrics.add_tensorboard(run_dir);
    } catch (const std::exception& e) {
      dir_error = "run directory '" + run_dir + "': " + e.what();
    }
  }
  comm::agree_or_throw(comm, dir_error);
  std::unique_ptr<trainer::ValidationTracker> tracker;
  if (val_data) {
    tracker = std::make_unique<trainer::ValidationTracker>(
        comm, cfg.early_stop, cfg.loss,
        [&](const io::BestRecord& best) {
          io::SavedModel m = trainer::snapshot(*model, cfg.loss, to_ini(values));
          m.best = best;
          m.class_names = info.class_names;
          io::save_model(run_dir + "/best.h5", m);
        },
        root ? &metrics : nullptr);
    if (resumed_best) tracker->stopping().restore(*resumed_best);
  }

  if (root) {
    const int64_t global_batch = cfg.train.batch_size * comm.size();
    if (place.gpu) {
      std::printf("lockstep train: %d rank(s) on GPUs (%s, %s), gradients all-reduced with %s\n",
                  comm.size(), cfg.precision.c_str(), values.at("dist.device").c_str(),
                  grad_comm.backend().c_str());
    } else {
      std::printf("lockstep train: %d rank(s) on cpu, %d thread(s) per rank%s, %s all-reduce\n",
                  comm.size(), cpu_threads(), binding_note(mpi.local_size()).c_str(),
                  grad_comm.backend().c_str());
    }
    std::fputs(placements.c_str(), stdout);
    std::printf("  data   %s: %lld samples %s %s, %lld per rank%s\n", info.path.c_str(),
                static_cast<long long>(train_data.num_rows()), shape_str(info.sample_shape).c_str(),
                to_string(info.feature_type), static_cast<long long>(train_data.local_rows()),
                test_data ? (", test " + cfg.test_path).c_str() : "");
    if (val_data)
      std::printf("  val    %lld samples (%s), best model by %s%s\n",
                  static_cast<long long>(val_data->num_rows()),
                  cfg.folds > 0          ? "a fold of the training file"
                  : cfg.val_fraction > 0 ? "split off the training file"
                                         : cfg.val_path.c_str(),
                  cfg.early_stop.metric.c_str(), cfg.early_stop.stop ? ", early stopping" : "");
    std::printf("  model  %s -> %lld parameters, loss %s\n", model->spec().c_str(),
                static_cast<long long>(model->num_params()), to_string(cfg.loss));
    std::printf(
        "  train  %lld epochs x %lld steps, batch %lld per rank (global %lld), %s lr %g (%s)\n",
        static_cast<long long>(cfg.train.epochs), static_cast<long long>(steps_per_epoch),
        static_cast<long long>(cfg.train.batch_size), static_cast<long long>(global_batch),
        cfg.optimizer.c_str(), sched.base_lr, values.at("optim.schedule").c_str());
    std::printf("  run    %s\n", run_dir.c_str());
    std::fflush(stdout);
  }

  if (root && !start_from.empty())
    std::printf("  %s %s (step %lld)\n", resuming ? "resume" : "init  ", start_from.c_str(),
                static_cast<long long>(trainer.global_step()));
  std::string last_checkpoint;
  bool stopped = false;
  const auto checkpoint = [&](const trainer::Position& next, bool epoch_end, bool stopping) {
    stopped = stopping;
    if (!ckpt.due(next, epoch_end, stopping)) return;
    trainer.sync_buffers();
    std::optional<std::string> error;
    if (root) {
      try {
        io::SavedModel snap = trainer::checkpoint_snapshot(
            *model, cfg.loss, to_ini(values), *optimizer, next, comm.size(), cfg.train.seed);
        if (tracker) snap.best = tracker->stopping().state();
        snap.class_names = info.class_names;
        last_checkpoint = trainer::write_checkpoint(ckpt, snap);
      } catch (const std::exception& e) {
        error = std::string("checkpoint: ") + e.what();
      }
    }
    comm::agree_or_throw(comm, error);
  };

  const auto t0 = std::chrono::steady_clock::now();
  const auto after_epoch = [&](const trainer::EpochRecord& r) {
    return tracker && r.val && tracker->after_epoch(r.epoch + 1, r.step, *r.val);
  };
  const bool stopped_before = tracker && tracker->stopping().should_stop();
  if (root && stopped_before)
    std::printf("early stopping: the resumed run had already stopped; nothing left to train\n");
  const auto records = stopped_before
                           ? std::vector<trainer::EpochRecord>{}
                           : trainer.fit(train_data, test_data.get(), root ? &metrics : nullptr,
                                         checkpoint, val_data, after_epoch);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (outcome) *outcome = {run_dir, records, seconds};

  if (stopped && trainer.stopped_by_signal()) {
    if (root) {
      // For launch scripts: mpirun may report another status after a signal
      // (README "Failure behaviour"); this file says the run stopped with a
      // checkpoint and exit code 75.
      std::ofstream(run_dir + "/" + kStoppedMarker)
          << trainer::kExitStopped << " " << signal_name(trainer.stopped_by_signal()) << " step "
          << trainer.global_step() << " " << last_checkpoint << "\n";
      std::printf(
          "stopped by %s after step %lld; checkpoint %s; exit code %d (continue with "
          "--checkpoint.resume auto)\n",
          signal_name(trainer.stopped_by_signal()), static_cast<long long>(trainer.global_step()),
          last_checkpoint.c_str(), trainer::kExitStopped);
      std::fflush(stdout);
    }
    return trainer::kExitStopped;
  }
  if (stopped) {
    if (root)
      std::printf("stopped after %lld steps (train.stop_after_steps); checkpoint %s\n",
                  static_cast<long long>(trainer.global_step()), last_checkpoint.c_str());
    return 0;
  }
  std::optional<std::string> save_error;
  if (root) {
    try {
      io::SavedModel final_model = trainer::snapshot(*model, cfg.loss, to_ini(values));
      final_model.class_names = info.class_names;
      io::save_model(run_dir + "/final.h5", final_model);
    } catch (const std::exception& e) {
      save_error = e.what();
    }
  }
  comm::agree_or_throw(comm, save_error);
  if (root) {
    std::printf("done in %.1fs; model saved to %s/final.h5\n", seconds, run_dir.c_str());
    if (!records.empty() && records.back().test) {
      const auto& t = *records.back().test;
      if (cfg.loss == LossKind::kCrossEntropy) {
        std::printf("test accuracy: %.4f (%lld/%lld), test loss %.4f\n", t.accuracy,
                    static_cast<long long>(t.correct), static_cast<long long>(t.samples), t.loss);
      } else {
        std::printf("test loss (mse): %.6f over %lld samples\n", t.loss,
                    static_cast<long long>(t.samples));
      }
    }
    if (tracker) {
      if (const std::optional<io::BestRecord> best = tracker->stopping().state())
        std::printf("best %s: %.6g at epoch %lld; model saved to %s/best.h5\n",
                    best->metric.c_str(), best->value, static_cast<long long>(best->epoch),
                    run_dir.c_str());
    }
  }
  return 0;
}

}  // namespace lockstep::launch
