#pragma once
// The harness of the GPU step benchmarks (B1 MLP, B2 CNN, B6 ResNet;
// BENCH.md): a model trained by trainer::Trainer::step on one random batch per
// rank that stays on the device, gradients through NCCL as `lockstep train`
// does on GPU ranks, each step timed with CUDA events on the main stream; the
// figure is the median step time over --steps steps after --warmup steps (the
// slowest rank's). Run directly (1 rank) or under `mpirun -np P` (GPU = local
// rank mod visible GPUs; several ranks may share one GPU, which is how B5
// runs). Rank 0 prints
//   # <B> gpu=... name="..." bus=... ranks_per_gpu=... params=...
//   <B> <kind> precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=... device=cuda ...
// --precision fp32|tf32|bf16 is passed to device::select (core/precision.hpp).
// --grad-dtype, --overlap and --bucket-mb set how the gradients travel
// (dist.grad_dtype, dist.overlap, dist.bucket_mb); with several ranks the line
// also gives the median exposed all-reduce wait and launch-to-completion time.
// --breakdown then measures the per-phase breakdown of the step
// (breakdown.hpp: each layer's forward and backward, the loss, the all-reduce,
// the optimizer, inside real steps); --layer-times times each layer's forward
// and backward alone (bench_util.hpp layer_breakdown).
// --device cpu runs the same on CPU ranks (MPI for the gradients, the steady
// clock for the timing): not a benchmark, the way to test the harness and the
// breakdown without a GPU (tests/cli/bench_breakdown_test.sh).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "bench/breakdown.hpp"
#include "comm/communicator.hpp"
#include "comm/mpi.hpp"
#include "comm/nccl.hpp"
#include "core/device.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/optimizer.hpp"
#include "core/precision.hpp"
#include "core/rng.hpp"
#include "core/schedule.hpp"
#include "core/threads.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::bench {

/// What differs between the GPU step benchmarks.
struct GpuStepBench {
  const char* id;        // "B1"
  const char* kind;      // "mlp"
  const char* program;   // "bench_b1_mlp"
  const char* layers;    // the model spec
  Shape input;           // per sample
  int64_t classes = 10;  // labels drawn from [0, classes)
  int64_t batch = 256;   // default per-rank batch
};

struct GpuStepFlags : StepFlags {
  std::string precision = "tf32";
  std::string device = "cuda";
  std::string grad_dtype = "fp32";
  bool overlap = true;
  double bucket_mb = 25.0;
  bool layer_times = false;
  int threads = 0;  // --device cpu: CPU threads per rank (0: lockstep's default)
};

inline std::string gpu_step_usage(const GpuStepBench& b) {
  return std::string("usage: [mpirun -np P] ") + b.program +
         " [--precision fp32|tf32|bf16] [--steps N] [--warmup N] [--batch N] [--seed N]\n"
         "    [--grad-dtype fp32|bf16|fp16] [--overlap 0|1] [--bucket-mb MB] [--breakdown]\n"
         "    [--layer-times] [--device cuda|cpu] [--threads N]\n";
}

inline bool parse_gpu_step_flags(int argc, char** argv, GpuStepFlags& f) {
  // --layer-times takes no value: take it out before the shared parser.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::string(argv[i]) == "--layer-times") {
      f.layer_times = true;
      continue;
    }
    args.push_back(argv[i]);
  }
  return parse_step_flags(
      static_cast<int>(args.size()), args.data(), f,
      [&](const std::string& name, const std::string& value) {
        if (name == "--precision") {
          if (value != "fp32" && value != "tf32" && value != "bf16") return false;
          f.precision = value;
        } else if (name == "--device") {
          if (value != "cuda" && value != "cpu") return false;
          f.device = value;
        } else if (name == "--grad-dtype") {
          if (value != "fp32" && value != "bf16" && value != "fp16") return false;
          f.grad_dtype = value;
        } else if (name == "--overlap") {
          if (value != "0" && value != "1") return false;
          f.overlap = value == "1";
        } else if (name == "--bucket-mb") {
          char* end = nullptr;
          f.bucket_mb = std::strtod(value.c_str(), &end);
          if (end == value.c_str() || *end != '\0' || !(f.bucket_mb > 0)) return false;
        } else if (name == "--threads") {
          f.threads = std::atoi(value.c_str());
          if (f.threads < 1) return false;
        } else {
          return false;
        }
        return true;
      });
}

// The batch made on the host and copied once to the model's device.
inline void random_batch_on(const GpuStepBench& b, int64_t batch, uint64_t seed, Device device,
                            Tensor& x, Tensor& y) {
  Tensor hx, hy;
  random_host_batch(b.input, b.classes, batch, seed, hx, hy);
  if (device == Device::kCpu) {
    x = hx;
    y = hy;
    return;
  }
  x = Tensor::empty(hx.shape(), DType::kF32, device);
  y = Tensor::empty(hy.shape(), DType::kI32, device);
  x.copy_from(hx);
  y.copy_from(hy);
  device::synchronize();
}

inline int run_gpu_step_bench(const GpuStepBench& b, const GpuStepFlags& f,
                              const comm::MpiSession& mpi, comm::MpiCommunicator& mpi_comm) {
  const bool gpu = f.device == "cuda";
  const Precision precision = parse_precision(f.precision);
  int gpu_index = -1;
  device::Info info;
  std::unique_ptr<comm::Communicator> nccl;
  if (gpu) {
    const int gpus = device::count();
    if (gpus < 1)
      throw std::runtime_error(std::string(b.program) +
                               ": expected a visible GPU on this rank, found none "
                               "(--device cpu runs the harness on CPU ranks)");
    gpu_index = mpi.local_rank() % gpus;
    device::select(gpu_index, precision);
    info = device::info(gpu_index);
    // NCCL for the gradients, as `lockstep train` does on GPU ranks (with one rank
    // the Reducer has nothing to send; the communicator still carries broadcasts).
    nccl = comm::make_nccl_communicator(mpi_comm);
  } else {
    set_compute_precision(precision);
    if (f.threads > 0) set_cpu_threads(f.threads);
  }
  comm::Communicator& comm = nccl ? *nccl : static_cast<comm::Communicator&>(mpi_comm);
  const Device dev = gpu ? Device::kCuda : Device::kCpu;
  const int64_t batch = f.batch > 0 ? f.batch : b.batch;

  Model model(b.layers, b.input, DType::kF32, dev);
  model.init_params(f.seed, InitScheme::kHe);
  SgdOptions sgd_options;
  sgd_options.momentum = 0.9;
  Sgd sgd(model.params(), sgd_options);
  ScheduleOptions sched;
  sched.base_lr = 0.01;
  trainer::TrainOptions opts;
  opts.epochs = 1;
  opts.batch_size = batch;
  opts.seed = f.seed;
  opts.shuffle = false;
  opts.progress = "off";
  opts.bucket_bytes = static_cast<size_t>(f.bucket_mb * 1024.0 * 1024.0);
  opts.overlap = f.overlap;
  opts.grad_dtype = comm::parse_wire_type(f.grad_dtype);
  Loss loss(LossKind::kCrossEntropy);
  trainer::Trainer trainer(comm, model, loss, sgd, LrSchedule(sched), opts);
  trainer.broadcast_parameters();

  Tensor x, y;
  random_batch_on(b, batch, hash_keys({f.seed, static_cast<uint64_t>(mpi_comm.rank())}), dev, x, y);

  double total_loss = 0.0;  // keeps the steps observable
  for (int64_t s = 0; s < f.warmup; ++s) total_loss += trainer.step(x, y).loss;
  if (gpu) device::synchronize();

  MarkClock clock(gpu, 2);
  std::vector<double> step_ms, exposed_ms, comm_ms;
  step_ms.reserve(static_cast<size_t>(f.steps));
  mpi_comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < f.steps; ++s) {
    clock.mark();
    total_loss += trainer.step(x, y).loss;
    clock.mark();
    step_ms.push_back(clock.intervals()[0]);
    exposed_ms.push_back(1e3 * trainer.last_overlap().exposed_s);
    comm_ms.push_back(1e3 * trainer.last_overlap().comm_s);
  }
  if (gpu) device::synchronize();
  mpi_comm.barrier();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The slowest rank's median sets the pace of a synchronous step.
  double stats[4] = {median(step_ms), *std::min_element(step_ms.begin(), step_ms.end()),
                     median(exposed_ms), median(comm_ms)};
  mpi_comm.allreduce(std::span<double>(stats, 4), comm::ReduceOp::kMax);

  if (mpi_comm.rank() == 0) {
    const double global_batch = static_cast<double>(mpi_comm.size() * batch);
    if (gpu) {
      const int gpus = device::count();
      std::printf("# %s gpu=%d name=\"%s\" bus=%s ranks_per_gpu=%d params=%lld\n", b.id, gpu_index,
                  info.name.c_str(), info.bus_id.c_str(), (mpi.local_size() + gpus - 1) / gpus,
                  static_cast<long long>(model.num_params()));
    } else {
      std::printf("# %s device=cpu threads=%d params=%lld (a test of the harness, not a benchmark)\n",
                  b.id, cpu_threads(), static_cast<long long>(model.num_params()));
    }
    std::printf(
        "%s %s precision=%s ranks=%d median_ms=%.4f samples_per_s=%.1f batch=%lld steps=%lld "
        "warmup=%lld min_ms=%.4f wall_samples_per_s=%.1f mean_loss=%.4f device=%s grad_dtype=%s "
        "overlap=%d bucket_mb=%g exposed_ms=%.4f comm_ms=%.4f\n",
        b.id, b.kind, f.precision.c_str(), mpi_comm.size(), stats[0],
        global_batch * 1000.0 / stats[0], static_cast<long long>(batch),
        static_cast<long long>(f.steps), static_cast<long long>(f.warmup), stats[1],
        global_batch * static_cast<double>(f.steps) / seconds,
        total_loss / static_cast<double>((f.warmup + f.steps) * batch), f.device.c_str(),
        f.grad_dtype.c_str(), f.overlap ? 1 : 0, f.bucket_mb, stats[2], stats[3]);
    std::fflush(stdout);
  }
  const std::string header = "precision=" + f.precision + " batch=" + std::to_string(batch) +
                             " ranks=" + std::to_string(mpi_comm.size()) +
                             " grad_dtype=" + f.grad_dtype;
  if (f.breakdown) {
    BreakdownOptions bo;
    bo.bucket_bytes = opts.bucket_bytes;
    bo.overlap = opts.overlap;
    bo.grad_dtype = opts.grad_dtype;
    bo.seed = f.seed;
    const Breakdown bd =
        measure_breakdown(model, loss, sgd, comm, x, y, f.steps, f.warmup, gpu, bo);
    if (mpi_comm.rank() == 0)
      print_step_breakdown(b.id, bd,
                           header + " steps=" + std::to_string(f.steps) +
                               " warmup=" + std::to_string(f.warmup) + " clock=" + clock.name(),
                           stats[0]);
  }
  if (f.layer_times) {
    MarkClock lt(gpu, 2);
    const auto times = layer_breakdown(model, x, f.seed, f.steps, f.warmup, [&](auto&& run) {
      lt.mark();
      run();
      lt.mark();
      return lt.intervals()[0];
    });
    if (mpi_comm.rank() == 0) print_breakdown(b.id, times, header);
  }
  return 0;
}

/// The main of a GPU step benchmark.
inline int gpu_step_main(int argc, char** argv, const GpuStepBench& b) {
  const std::string usage = gpu_step_usage(b);
  return mpi_main<GpuStepFlags>(
      argc, argv, b.program, usage.c_str(), parse_gpu_step_flags,
      [&](const GpuStepFlags& flags, comm::MpiSession& mpi, comm::MpiCommunicator& comm) {
        return run_gpu_step_bench(b, flags, mpi, comm);
      });
}

}  // namespace lockstep::bench
