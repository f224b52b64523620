// B3 (BENCH.md): CPU throughput of a model trained by trainer::Trainer::step,
// random inputs, SGD momentum 0.9. `--model mlp` (default): the MLP
// 784-256-128-10, batch 128 per rank; `--model cnn`: conv3x3(32)-ReLU-maxpool2-
// conv3x3(64)-ReLU-maxpool2-dense(128)-ReLU-dense(10) on (1, 28, 28), no
// padding, batch 64 per rank (--batch overrides either default).
// Run under `mpirun -np P`; rank 0 prints one machine-readable line:
//   B3 mlp ranks=P threads=T batch=128 steps=S samples_per_s=... median_step_ms=...
// (`B3 cnn ...` for the CNN).
// bench/b3_mlp_torch.py measures the PyTorch reference with the same recipe.
// With --breakdown, rank 0 then times each layer's forward and backward alone
// on its real input (`B3 layer ...` lines).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "comm/mpi.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/optimizer.hpp"
#include "core/rng.hpp"
#include "core/schedule.hpp"
#include "core/threads.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::bench {
namespace {

constexpr int64_t kClasses = 10;

// The two B3 models: spec, per-sample input shape, default batch per rank.
struct Bench {
  const char* name;
  const char* layers;
  Shape input;
  int64_t batch;
};
const Bench kMlp{"mlp", "dense(256), relu, dense(128), relu, dense(10)", {784}, 128};
const Bench kCnn{"cnn",
                 "conv2d(32, 3), relu, maxpool2d(2), conv2d(64, 3), relu, maxpool2d(2), "
                 "dense(128), relu, dense(10)",
                 {1, 28, 28},
                 64};

struct Flags : StepFlags {
  Flags() {
    steps = 200;
    warmup = 20;
  }
  const Bench* bench = &kMlp;
  int threads = 1;
};

const char* const kUsage =
    "usage: mpirun -np P bench_b3_mlp [--model mlp|cnn] [--threads N] [--steps N] [--warmup N] "
    "[--batch N] [--seed N] [--breakdown]\n";

// Returns false on a bad command line (the caller prints the usage).
bool parse_flags(int argc, char** argv, Flags& f) {
  const bool ok =
      parse_step_flags(argc, argv, f, [&](const std::string& name, const std::string& value) {
        if (name == "--model" && (value == "mlp" || value == "cnn")) {
          f.bench = value == "mlp" ? &kMlp : &kCnn;
          return true;
        }
        if (name != "--threads") return false;
        f.threads = std::atoi(value.c_str());
        return true;
      });
  if (f.batch == 0) f.batch = f.bench->batch;
  return ok && f.threads >= 1 && f.batch >= 1;
}

int run(const Flags& f, comm::MpiCommunicator& comm) {
  set_cpu_threads(f.threads);

  Model model(f.bench->layers, f.bench->input);
  model.init_params(f.seed, InitScheme::kHe);
  SgdOptions sgd_options;
  sgd_options.momentum = 0.9;
  Sgd sgd(model.params(), sgd_options);
  ScheduleOptions sched;
  sched.base_lr = 0.01;
  trainer::TrainOptions opts;
  opts.epochs = 1;
  opts.batch_size = f.batch;
  opts.seed = f.seed;
  opts.shuffle = false;
  opts.progress = "off";
  trainer::Trainer trainer(comm, model, Loss(LossKind::kCrossEntropy), sgd, LrSchedule(sched),
                           opts);
  trainer.broadcast_parameters();

  Tensor x, y;
  random_host_batch(f.bench->input, kClasses, f.batch,
                    hash_keys({f.seed, static_cast<uint64_t>(comm.rank())}), x, y);

  double loss = 0.0;  // keeps the steps observable
  for (int64_t s = 0; s < f.warmup; ++s) loss += trainer.step(x, y).loss;

  std::vector<double> step_ms;
  step_ms.reserve(static_cast<size_t>(f.steps));
  comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < f.steps; ++s) {
    const auto a = std::chrono::steady_clock::now();
    loss += trainer.step(x, y).loss;
    const auto b = std::chrono::steady_clock::now();
    step_ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
  }
  comm.barrier();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (comm.rank() == 0) {
    const double samples = static_cast<double>(comm.size() * f.batch * f.steps);
    std::printf(
        "B3 %s ranks=%d threads=%d batch=%lld steps=%lld samples_per_s=%.1f "
        "median_step_ms=%.4f seconds=%.3f mean_loss=%.4f\n",
        f.bench->name, comm.size(), f.threads, static_cast<long long>(f.batch),
        static_cast<long long>(f.steps), samples / seconds, median(step_ms), seconds,
        loss / static_cast<double>((f.warmup + f.steps) * f.batch));
    std::fflush(stdout);
    if (f.breakdown) {
      const auto times = layer_breakdown(model, x, f.seed, f.steps, f.warmup, [](auto&& run) {
        const auto start = std::chrono::steady_clock::now();
        run();
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count();
      });
      print_breakdown("B3", times,
                      "threads=" + std::to_string(f.threads) + " batch=" + std::to_string(f.batch));
    }
  }
  return 0;
}

}  // namespace
}  // namespace lockstep::bench

int main(int argc, char** argv) {
  using namespace lockstep;
  return bench::mpi_main<bench::Flags>(
      argc, argv, "bench_b3_mlp", bench::kUsage, bench::parse_flags,
      [](const bench::Flags& flags, comm::MpiSession&, comm::MpiCommunicator& comm) {
        return bench::run(flags, comm);
      });
}
