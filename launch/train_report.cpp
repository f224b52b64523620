#include "launch/train_report.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/threads.hpp"
#include "launch/signals.hpp"

namespace lockstep::launch {

namespace {

void print_setup(const trainer::RunSetup& s, int local_ranks) {
  const trainer::RunConfig& cfg = *s.config;
  if (s.gpu) {
    std::printf("lockstep train: %d rank(s) on GPUs (%s, %s), gradients all-reduced with %s\n",
                s.ranks, cfg.precision.c_str(), cfg.device.c_str(), s.grad_backend.c_str());
  } else {
    std::printf("lockstep train: %d rank(s) on cpu, %d thread(s) per rank%s, %s all-reduce%s\n",
                s.ranks, s.cpu_threads, cpu_binding_note(local_ranks).c_str(),
                s.grad_backend.c_str(), cfg.precision == "bf16" ? ", bf16 emulated" : "");
  }
  std::fputs(s.placements.c_str(), stdout);
  std::printf("  data   %s: %lld samples %s %s, %lld per rank%s\n", s.data.path.c_str(),
              static_cast<long long>(s.train_rows), shape_str(s.data.sample_shape).c_str(),
              to_string(s.data.feature_type), static_cast<long long>(s.local_rows),
              cfg.test_path.empty() ? "" : (", test " + cfg.test_path).c_str());
  if (s.val_rows > 0)
    std::printf("  val    %lld samples (%s), best model by %s%s\n",
                static_cast<long long>(s.val_rows),
                cfg.folds > 0          ? "a fold of the training file"
                : cfg.val_fraction > 0 ? "split off the training file"
                                       : cfg.val_path.c_str(),
                cfg.early_stop.metric.c_str(), cfg.early_stop.stop ? ", early stopping" : "");
  std::printf("  model  %s -> %lld parameters, loss %s\n", s.model_spec.c_str(),
              static_cast<long long>(s.num_params), to_string(cfg.loss));
  const std::string accumulate =
      cfg.train.accumulate_steps > 1
          ? " x " + std::to_string(cfg.train.accumulate_steps) + " accumulated"
          : "";
  std::printf("  train  %lld epochs x %lld steps, batch %lld per rank%s (global %lld), %s lr %g (%s)\n",
              static_cast<long long>(cfg.train.epochs), static_cast<long long>(s.steps_per_epoch),
              static_cast<long long>(s.batch_size), accumulate.c_str(),
              static_cast<long long>(s.global_batch), cfg.optimizer.c_str(), s.base_lr,
              to_string(cfg.schedule));
  std::printf("  optim  %s state %.1f MB per rank%s\n", cfg.optimizer.c_str(),
              static_cast<double>(s.optimizer_state_bytes) / (1 << 20),
              s.sharded ? (" (sharded over " + std::to_string(s.ranks) + " ranks)").c_str() : "");
  std::printf("  run    %s\n", s.run_dir.c_str());
  if (!s.start_from.empty())
    std::printf("  %s %s (step %lld)\n", s.resuming ? "resume" : "init  ", s.start_from.c_str(),
                static_cast<long long>(s.start_step));
  std::fflush(stdout);
}

}  // namespace

trainer::RunHooks run_hooks(const char* command, int local_ranks) {
  trainer::RunHooks hooks;
  // Preemption: SIGTERM / SIGUSR1 stop the run at the next step boundary.
  hooks.watchdog = [](const comm::Watchdog* w) { install_stop_handlers(w); };
  hooks.started = [local_ranks](const trainer::RunSetup& s) { print_setup(s, local_ranks); };
  hooks.note = [command = std::string(command)](const std::string& line, bool warning) {
    std::fprintf(warning ? stderr : stdout, "lockstep %s: %s%s\n", command.c_str(),
                 warning ? "warning: " : "", line.c_str());
    std::fflush(warning ? stderr : stdout);
  };
  return hooks;
}

void attach_process_inputs(trainer::RunConfig& config) {
  config.train.stop_signal = pending_stop_signal;
  if (const char* fault = std::getenv("LOCKSTEP_FAULT"); fault != nullptr && *fault != '\0')
    config.train.fault = trainer::parse_fault(fault);
}

void print_outcome(const trainer::RunOutcome& out, const trainer::RunConfig& cfg) {
  switch (out.end) {
    case trainer::RunEnd::kStoppedBySignal:
      std::printf(
          "stopped by %s after step %lld; checkpoint %s; exit code %d (continue with "
          "--checkpoint.resume auto)\n",
          trainer::stop_signal_name(out.signal), static_cast<long long>(out.step),
          out.last_checkpoint.c_str(), trainer::kExitStopped);
      break;
    case trainer::RunEnd::kStoppedAfterSteps:
      std::printf("stopped after %lld steps (train.stop_after_steps); checkpoint %s\n",
                  static_cast<long long>(out.step), out.last_checkpoint.c_str());
      break;
    case trainer::RunEnd::kFinished:
      std::printf("done in %.1fs; model saved to %s/final.h5\n", out.seconds, out.run_dir.c_str());
      if (!out.records.empty() && out.records.back().test) {
        const auto& t = *out.records.back().test;
        if (cfg.loss == LossKind::kCrossEntropy) {
          std::printf("test accuracy: %.4f (%lld/%lld), test loss %.4f\n", t.accuracy,
                      static_cast<long long>(t.correct), static_cast<long long>(t.samples), t.loss);
        } else {
          std::printf("test loss (mse): %.6f over %lld samples\n", t.loss,
                      static_cast<long long>(t.samples));
        }
      }
      if (out.best)
        std::printf("best %s: %.6g at epoch %lld; model saved to %s/best.h5\n",
                    out.best->metric.c_str(), out.best->value,
                    static_cast<long long>(out.best->epoch), out.run_dir.c_str());
      break;
  }
  std::fflush(stdout);
}

}  // namespace lockstep::launch
