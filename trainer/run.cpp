#include "trainer/run.hpp"

#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "comm/mpi.hpp"
#include "comm/nccl.hpp"
#include "comm/placement.hpp"
#include "comm/watchdog.hpp"
#include "core/device.hpp"
#include "core/ops/conv.hpp"
#include "core/threads.hpp"
#include "trainer/early_stop.hpp"
#include "trainer/model_io.hpp"

namespace lockstep::trainer {

const char* stop_signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "a signal";
  }
}

namespace {

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

// The rows of a rank's micro-batch: train.batch_size, or train.global_batch_size
// divided among the ranks and the accumulated micro-batches.
int64_t per_rank_batch(const RunConfig& cfg, int ranks) {
  if (cfg.global_batch_size == 0) return cfg.train.batch_size;
  const int64_t parts = ranks * cfg.train.accumulate_steps;
  if (cfg.global_batch_size % parts != 0)
    throw comm::CollectiveError(
        "train.global_batch_size: expected a multiple of the " + std::to_string(ranks) +
        " ranks" +
        (cfg.train.accumulate_steps > 1
             ? " x " + std::to_string(cfg.train.accumulate_steps) + " accumulated micro-batches"
             : std::string()) +
        ", got " + std::to_string(cfg.global_batch_size));
  return cfg.global_batch_size / parts;
}

// The schedule in steps, from the config's epochs and one epoch's length.
ScheduleOptions schedule_in_steps(const RunConfig& cfg, int64_t global_batch,
                                  int64_t steps_per_epoch) {
  ScheduleOptions s;
  s.kind = cfg.schedule;
  s.base_lr = cfg.lr;
  s.min_lr = cfg.min_lr;
  s.gamma = cfg.gamma;
  if (cfg.scale_lr > 0) {  // linear scaling rule (Goyal et al.)
    s.base_lr = cfg.lr * static_cast<double>(global_batch) / static_cast<double>(cfg.scale_lr);
    s.min_lr = std::min(s.min_lr, s.base_lr);
  }
  s.total_steps = std::max<int64_t>(1, steps_per_epoch * cfg.train.epochs);
  s.warmup_steps = static_cast<int64_t>(std::llround(cfg.warmup_epochs * steps_per_epoch));
  s.step_every = std::max<int64_t>(1, cfg.step_epochs * steps_per_epoch);
  return s;
}

// Rank 0 runs `f`; an error there ends every rank (collective).
template <class F>
void on_root(comm::Communicator& comm, F&& f) {
  std::optional<std::string> error;
  if (comm.rank() == 0) {
    try {
      f();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  comm::agree_or_throw(comm, error);
}

void note(const RunHooks& hooks, const std::string& line, bool warning = false) {
  if (hooks.note) hooks.note(line, warning);
}

// Where training starts: a checkpoint to resume, weights to start from, or fresh.
struct StartPoint {
  std::string path;  // "" when fresh
  bool resuming = false;
  std::optional<io::BestRecord> best;  // the checkpoint's early-stopping state
};

StartPoint load_start_point(const RunConfig& cfg, const std::string& checkpoint_dir, Model& model,
                            Optimizer& optimizer, Trainer& trainer, comm::Communicator& comm,
                            const RunHooks& hooks) {
  StartPoint start;
  comm::check_on_all_ranks(comm, [&] {
    std::optional<io::SavedModel> found;
    if (cfg.resume == "auto") {
      // The newest checkpoint that loads; damaged newer ones are passed over, loudly.
      FoundCheckpoint latest = load_latest_checkpoint(checkpoint_dir);
      if (comm.rank() == 0)
        for (const auto& skipped : latest.skipped)
          note(hooks, "checkpoint.resume = auto: skipping " + skipped, true);
      start.path = latest.path;
      start.resuming = !start.path.empty();
      if (start.resuming) found = std::move(latest.model);
    } else if (!cfg.resume.empty()) {
      start.path = cfg.resume;
      start.resuming = true;
    } else {
      start.path = cfg.init_from;
    }
    if (start.path.empty()) return;
    const io::SavedModel saved = found ? std::move(*found) : io::load_model(start.path);
    restore_state(saved, start.path, model, start.resuming ? &optimizer : nullptr,
                  trainer.shard().first);
    if (start.resuming) {
      LOCKSTEP_CHECK(saved.training, "checkpoint.resume: '"
                                         << start.path
                                         << "' is a saved model, not a checkpoint "
                                            "(use checkpoint.init to start from "
                                            "its weights)");
      const io::TrainingState& t = *saved.training;
      trainer.resume({t.step, t.epoch, t.step_in_epoch});
      start.best = saved.best;
    }
  });
  return start;
}

}  // namespace

RunOutcome run_training(const RunConfig& config, const std::string& config_ini,
                        comm::MpiSession& mpi, const RunHooks& hooks) {
  comm::MpiCommunicator comm;  // host collectives, data, bootstrap
  const bool root = comm.rank() == 0;
  RunConfig cfg = config;
  // Every rank must run the same configuration (before any data-path collective).
  comm::check_same_across_ranks(comm, comm::fnv1a(config_ini), "the training configuration");
  RunOutcome out;
  out.run_dir = claim_run_dir(cfg, comm);
  const std::string& run_dir = out.run_dir;
  // From here on, a collective that waits longer than dist.timeout ends the job.
  comm::Watchdog watchdog(comm.rank(), cfg.timeout_s);
  comm.set_watchdog(&watchdog);
  configure_cpu_threads(cfg.threads, mpi.local_size());
  RunSetup setup;
  const comm::Placement place =
      comm::place_rank(mpi, comm, comm::parse_device_request(cfg.device), cfg.allow_shared_gpu);
  setup.placements = comm::gather_placements(comm, place);
  std::unique_ptr<comm::Communicator> nccl;
  if (place.gpu) {
    comm::check_on_all_ranks(
        comm, [&] {
          device::select(place.device, device::parse_precision(cfg.precision));
          if (cfg.conv_backend != "auto")
            ops::set_conv_backend(cfg.conv_backend == "cudnn" ? ops::ConvBackend::kCudnn
                                                              : ops::ConvBackend::kIm2col);
        });
    nccl = comm::make_nccl_communicator(comm);
  } else {
    // CPU ranks: tf32 (a GPU tensor-core mode) computes as fp32; bf16 is
    // emulated, float32 arithmetic on values rounded to bfloat16 (for tests).
    comm::check_on_all_ranks(comm, [&] {
      const Precision p = parse_precision(cfg.precision);
      set_compute_precision(p == Precision::kTf32 ? Precision::kFp32 : p);
    });
  }
  comm::Communicator& grad_comm = nccl ? *nccl : static_cast<comm::Communicator&>(comm);
  const Device model_device = place.gpu ? Device::kCuda : Device::kCpu;

  // Training labels only: checks need them; features come through the input pipeline.
  RunData run_data = open_run_data(
      cfg.train_data, {cfg.val_path, cfg.val_fraction, cfg.split_seed(), cfg.folds, cfg.fold},
      cfg.train.eval_batch_size, comm);
  ShardedData& train_data = *run_data.train;
  ShardedData* val_data = run_data.val.get();
  std::unique_ptr<ShardedData> test_data;
  if (!cfg.test_path.empty()) {
    DataOptions t = cfg.train_data;
    t.spec.path = cfg.test_path;
    t.limit = 0;  // the whole test set
    t.shard_block = cfg.train.eval_batch_size;
    test_data = std::make_unique<ShardedData>(t, comm);
  }
  const io::DatasetInfo& info = train_data.info();
  {
    std::ostringstream schema;
    schema << info.num_samples << shape_str(info.sample_shape) << to_string(info.feature_type)
           << to_string(info.label_kind) << info.target_dim;
    comm::check_same_across_ranks(comm, comm::fnv1a(schema.str()), "the training dataset schema");
  }

  // No model.layers: the layers of the model checkpoint.init starts from
  // (e.g. one made by `lockstep import onnx`).
  if (cfg.layers.empty())
    comm::check_on_all_ranks(comm, [&] { cfg.layers = io::load_model(cfg.init_from).layers; });
  std::unique_ptr<Model> model;
  comm::check_on_all_ranks(comm, [&] {
    model = std::make_unique<Model>(cfg.layers, info.sample_shape, DType::kF32, model_device);
    const Shape& shape = model->output_shape();
    LOCKSTEP_CHECK(shape.size() == 1 || (shape.size() == 3 && cfg.loss == LossKind::kCrossEntropy),
                   "model.layers: expected the last layer to give a vector of outputs (or, "
                   "with cross_entropy, class scores per pixel (C, H, W)), it gives "
                       << shape_str(shape));
  });
  const Shape& out_shape = model->output_shape();
  const ModelInterface iface{info.sample_shape, out_shape[0], cfg.loss == LossKind::kCrossEntropy,
                             out_shape.size() == 3 ? Shape{out_shape[1], out_shape[2]} : Shape{}};
  check_output_width(iface, model->layer(model->num_layers() - 1).spec(), run_data, comm);
  train_data.check_fits(iface, comm);
  if (test_data) test_data->check_fits(iface, comm);
  if (val_data) val_data->check_fits(iface, comm);

  // Batch sizes, the training input and the schedule (one epoch's length, from the input).
  cfg.train.batch_size = per_rank_batch(cfg, comm.size());
  const int64_t global_batch = cfg.train.batch_size * cfg.train.accumulate_steps * comm.size();
  const std::unique_ptr<io::BatchPipeline> input = open_train_input(train_data, cfg.train, comm);
  const int64_t steps_per_epoch = input->steps_per_epoch();
  const ScheduleOptions sched = schedule_in_steps(cfg, global_batch, steps_per_epoch);

  struct ForgetWatchdog {  // the hook's use of the watchdog ends before it goes
    const RunHooks& hooks;
    ~ForgetWatchdog() {
      if (hooks.watchdog) hooks.watchdog(nullptr);
    }
  } forget_watchdog{hooks};
  if (hooks.watchdog) hooks.watchdog(&watchdog);
  model->init_params(cfg.train.seed, cfg.init);
  // ZeRO-1 (dist.shard_optimizer): the optimizer state covers this rank's slice only.
  Tensor optimized = model->params();
  if (cfg.train.shard_optimizer && grad_comm.size() > 1) {
    const std::vector<int64_t> b = shard_bounds(model->num_params(), grad_comm.size());
    const auto r = static_cast<size_t>(grad_comm.rank());
    optimized = model->params().view(b[r], {b[r + 1] - b[r]});
  }
  const std::unique_ptr<Optimizer> optimizer =
      make_optimizer(cfg.optimizer, cfg.sgd_options(), cfg.adam_options(), optimized);
  Trainer trainer(grad_comm, *model, Loss(cfg.loss, cfg.loss_options), *optimizer, LrSchedule(sched), cfg.train);

  CheckpointOptions ckpt = cfg.checkpoint;
  if (ckpt.dir.empty()) ckpt.dir = run_dir + "/checkpoints";
  const StartPoint start =
      load_start_point(cfg, ckpt.dir, *model, *optimizer, trainer, comm, hooks);
  trainer.broadcast_parameters();

  MetricsFile metrics;
  on_root(comm, [&] {
    try {
      if (cfg.log_overwrite && std::filesystem::exists(run_dir)) {
        std::filesystem::remove_all(run_dir);
        note(hooks, "log.overwrite: deleted the previous run directory " + run_dir);
      }
      std::filesystem::create_directories(run_dir);
      std::filesystem::remove(run_dir + "/" + kStoppedMarker);  // a resumed run's old one
      std::ofstream(run_dir + "/config.ini") << config_ini;
      metrics = MetricsFile(run_dir + "/metrics.jsonl");
      if (cfg.log_tensorboard) metrics.add_tensorboard(run_dir);
    } catch (const std::exception& e) {
      throw Error("run directory '" + run_dir + "': " + e.what());
    }
  });
  const auto model_file = [&] {
    io::SavedModel m = snapshot(*model, cfg.loss, config_ini);
    m.class_names = info.class_names;
    return m;
  };
  std::unique_ptr<ValidationTracker> tracker;
  if (val_data) {
    tracker = std::make_unique<ValidationTracker>(
        comm, cfg.early_stop, cfg.loss,
        [&](const io::BestRecord& best) {
          io::SavedModel m = model_file();
          m.best = best;
          io::save_model(run_dir + "/best.h5", m);
        },
        root ? &metrics : nullptr);
    if (start.best) tracker->stopping().restore(*start.best);
  }

  if (root && hooks.started) {
    setup.config = &cfg;
    setup.ranks = comm.size();
    setup.gpu = place.gpu;
    setup.grad_backend = grad_comm.backend();
    setup.cpu_threads = cpu_threads();
    setup.data = info;
    setup.train_rows = train_data.num_rows();
    setup.local_rows = train_data.local_rows();
    setup.val_rows = val_data ? val_data->num_rows() : 0;
    setup.model_spec = model->spec();
    setup.num_params = model->num_params();
    setup.steps_per_epoch = steps_per_epoch;
    setup.batch_size = cfg.train.batch_size;
    setup.global_batch = global_batch;
    setup.base_lr = sched.base_lr;
    for (auto& [name, slab] : optimizer->state())
      setup.optimizer_state_bytes += slab.numel() * static_cast<int64_t>(sizeof(float));
    setup.sharded = trainer.sharded();
    setup.run_dir = run_dir;
    setup.start_from = start.path;
    setup.resuming = start.resuming;
    setup.start_step = trainer.global_step();
    hooks.started(setup);
  }

  // The timeline (log.trace): the first trace_steps steps of this run.
  Trace trace(comm, trainer.global_step(), cfg.trace ? cfg.trace_steps : 0);
  if (cfg.trace) trainer.set_trace(&trace);
  const auto write_trace = [&] {
    if (cfg.trace) trace.write(comm, run_dir + "/trace.json");
  };

  // Checkpoints: when the policy says so, and whenever the run stops early.
  bool stopped = false;
  const auto checkpoint = [&](const Position& next, bool epoch_end, bool stopping) {
    stopped = stopping;
    if (!ckpt.due(next, epoch_end, stopping)) return;
    trainer.sync_buffers();
    const double begin = steady_seconds();
    const auto optimizer_state = trainer.full_optimizer_state();  // collective when sharded
    on_root(comm, [&] {
      try {
        io::SavedModel snap =
            checkpoint_snapshot(*model, cfg.loss, config_ini, optimizer->name(),
                                optimizer->steps(), optimizer_state, next, comm.size(),
                                cfg.train.seed);
        if (tracker) snap.best = tracker->stopping().state();
        snap.class_names = info.class_names;
        out.last_checkpoint = write_checkpoint(ckpt, snap);
      } catch (const std::exception& e) {
        throw Error(std::string("checkpoint: ") + e.what());
      }
    });
    trace.span("checkpoint", "checkpoint", 0, begin, steady_seconds(), next.step);
  };

  const auto t0 = std::chrono::steady_clock::now();
  const auto after_epoch = [&](const EpochRecord& r) {
    return tracker && r.val && tracker->after_epoch(r.epoch + 1, r.step, *r.val);
  };
  out.stopped_before = tracker && tracker->stopping().should_stop();
  if (root && out.stopped_before)
    note(hooks, "early stopping: the resumed run had already stopped; nothing left to train");
  if (!out.stopped_before)
    out.records = trainer.fit(*input, test_data.get(), root ? &metrics : nullptr, checkpoint,
                              val_data, after_epoch);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.step = trainer.global_step();
  if (tracker) out.best = tracker->stopping().state();
  write_trace();

  if (stopped && trainer.stopped_by_signal()) {
    out.end = RunEnd::kStoppedBySignal;
    out.signal = trainer.stopped_by_signal();
    out.exit_code = kExitStopped;
    // For launch scripts: mpirun may report another status after a signal
    // (README "Failure behaviour"); this file says the run stopped with a
    // checkpoint and exit code 75.
    if (root)
      std::ofstream(run_dir + "/" + kStoppedMarker)
          << kExitStopped << " " << stop_signal_name(out.signal) << " step " << out.step << " "
          << out.last_checkpoint << "\n";
    return out;
  }
  if (stopped) {
    out.end = RunEnd::kStoppedAfterSteps;
    return out;
  }
  on_root(comm, [&] { io::save_model(run_dir + "/final.h5", model_file()); });
  return out;
}

}  // namespace lockstep::trainer
