#pragma once
// The harness of the GPU step benchmarks (B1 MLP, B2 CNN; BENCH.md): a model
// trained by trainer::Trainer::step on one random batch per rank that stays on
// the GPU, gradients through NCCL as `lockstep train` does on GPU ranks, each
// step timed with CUDA events on the main stream; the figure is the median
// step time over --steps steps after --warmup steps (the slowest rank's). Run
// directly (1 rank) or under `mpirun -np P` (GPU = local rank mod visible
// GPUs; several ranks may share one GPU, which is how B5 runs). Rank 0 prints
//   # <B> gpu=... name="..." bus=... ranks_per_gpu=... params=...
//   <B> <kind> precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=...
// and with --breakdown each layer's forward and backward alone (rank 0's GPU,
// the same batch; bench_util.hpp layer_breakdown):
//   <B> layer i=0 fwd_ms=... bwd_ms=... spec="..."

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "comm/mpi.hpp"
#include "comm/nccl.hpp"
#include "core/cuda/runtime.hpp"
#include "core/device.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/optimizer.hpp"
#include "core/rng.hpp"
#include "core/schedule.hpp"
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
};

inline std::string gpu_step_usage(const GpuStepBench& b) {
  return std::string("usage: [mpirun -np P] ") + b.program +
         " [--precision fp32|tf32] [--steps N] [--warmup N] [--batch N] [--seed N] "
         "[--breakdown]\n";
}

inline bool parse_gpu_step_flags(int argc, char** argv, GpuStepFlags& f) {
  return parse_step_flags(argc, argv, f, [&](const std::string& name, const std::string& value) {
    if (name != "--precision" || (value != "fp32" && value != "tf32")) return false;
    f.precision = value;
    return true;
  });
}

// The batch made on the host and copied once to the GPU.
inline void random_batch_on_gpu(const GpuStepBench& b, int64_t batch, uint64_t seed, Tensor& x,
                                Tensor& y) {
  Tensor hx, hy;
  random_host_batch(b.input, b.classes, batch, seed, hx, hy);
  x = Tensor::empty(hx.shape(), DType::kF32, Device::kCuda);
  y = Tensor::empty(hy.shape(), DType::kI32, Device::kCuda);
  x.copy_from(hx);
  y.copy_from(hy);
  device::synchronize();
}

// Milliseconds between two recorded events, after waiting for the second.
inline double elapsed_ms(const cuda::Event& a, const cuda::Event& b) {
  LOCKSTEP_CUDA_CHECK(cudaEventSynchronize(b.get()));
  float ms = 0.0f;
  LOCKSTEP_CUDA_CHECK(cudaEventElapsedTime(&ms, a.get(), b.get()));
  return static_cast<double>(ms);
}

inline int run_gpu_step_bench(const GpuStepBench& b, const GpuStepFlags& f,
                              const comm::MpiSession& mpi, comm::MpiCommunicator& mpi_comm) {
  const int gpus = device::count();
  if (gpus < 1) throw std::runtime_error(std::string(b.program) + ": no GPU visible on this rank");
  const int gpu = mpi.local_rank() % gpus;
  device::select(gpu, device::parse_precision(f.precision));
  const device::Info info = device::info(gpu);
  const int64_t batch = f.batch > 0 ? f.batch : b.batch;

  // NCCL for the gradients, as `lockstep train` does on GPU ranks (with one rank
  // the Reducer has nothing to send; the communicator still carries broadcasts).
  std::unique_ptr<comm::Communicator> nccl = comm::make_nccl_communicator(mpi_comm);

  Model model(b.layers, b.input, DType::kF32, Device::kCuda);
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
  trainer::Trainer trainer(*nccl, model, Loss(LossKind::kCrossEntropy), sgd, LrSchedule(sched),
                           opts);
  trainer.broadcast_parameters();

  Tensor x, y;
  random_batch_on_gpu(b, batch, hash_keys({f.seed, static_cast<uint64_t>(mpi_comm.rank())}), x, y);

  double loss = 0.0;  // keeps the steps observable
  for (int64_t s = 0; s < f.warmup; ++s) loss += trainer.step(x, y).loss;
  device::synchronize();

  const cudaStream_t stream = cuda::main_stream();
  const cuda::Event start = cuda::make_event(true);
  const cuda::Event stop = cuda::make_event(true);
  std::vector<double> step_ms;
  step_ms.reserve(static_cast<size_t>(f.steps));
  mpi_comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < f.steps; ++s) {
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(start.get(), stream));
    loss += trainer.step(x, y).loss;
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(stop.get(), stream));
    step_ms.push_back(elapsed_ms(start, stop));
  }
  device::synchronize();
  mpi_comm.barrier();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The slowest rank's median sets the pace of a synchronous step.
  double stats[2] = {median(step_ms), *std::min_element(step_ms.begin(), step_ms.end())};
  mpi_comm.allreduce(std::span<double>(stats, 2), comm::ReduceOp::kMax);

  if (mpi_comm.rank() == 0) {
    const double global_batch = static_cast<double>(mpi_comm.size() * batch);
    std::printf("# %s gpu=%d name=\"%s\" bus=%s ranks_per_gpu=%d params=%lld\n", b.id, gpu,
                info.name.c_str(), info.bus_id.c_str(), (mpi.local_size() + gpus - 1) / gpus,
                static_cast<long long>(model.num_params()));
    std::printf(
        "%s %s precision=%s ranks=%d median_ms=%.4f samples_per_s=%.1f batch=%lld steps=%lld "
        "warmup=%lld min_ms=%.4f wall_samples_per_s=%.1f mean_loss=%.4f\n",
        b.id, b.kind, f.precision.c_str(), mpi_comm.size(), stats[0],
        global_batch * 1000.0 / stats[0], static_cast<long long>(batch),
        static_cast<long long>(f.steps), static_cast<long long>(f.warmup), stats[1],
        global_batch * static_cast<double>(f.steps) / seconds,
        loss / static_cast<double>((f.warmup + f.steps) * batch));
    std::fflush(stdout);
  }
  if (f.breakdown) {
    const cuda::Event e0 = cuda::make_event(true);
    const cuda::Event e1 = cuda::make_event(true);
    const auto times = layer_breakdown(model, x, f.seed, f.steps, f.warmup, [&](auto&& run) {
      LOCKSTEP_CUDA_CHECK(cudaEventRecord(e0.get(), stream));
      run();
      LOCKSTEP_CUDA_CHECK(cudaEventRecord(e1.get(), stream));
      return elapsed_ms(e0, e1);
    });
    if (mpi_comm.rank() == 0)
      print_breakdown(b.id, times, "precision=" + f.precision + " batch=" + std::to_string(batch));
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
