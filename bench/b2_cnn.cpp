// B2 (BENCH.md): GPU throughput of a small ConvNet trained by
// trainer::Trainer::step: input 3x64x64, conv3x3(32)-ReLU-maxpool2,
// conv3x3(64)-ReLU-maxpool2, conv3x3(128)-ReLU-maxpool2, conv3x3(256)-ReLU,
// global average pool, dense(10); padding 1, softmax cross-entropy, SGD
// momentum 0.9, batch 256 per rank, random inputs that stay on the GPU. Each
// step is timed with CUDA events on the main stream; the figure is the median
// step time over --steps steps after --warmup steps. Run it directly (1 rank)
// or under `mpirun -np P` (GPU = local rank mod visible GPUs, as bench_b1_mlp).
// Rank 0 prints one machine-readable line:
//   B2 cnn precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=256 ...
// With --breakdown it then times each layer alone (rank 0's GPU, the same
// batch): --steps forwards back to back between two events, then --steps
// backwards (dy: a copy of the layer's output), after --warmup of each, and
// prints the mean per call, one line per layer, then their sum:
//   B2 layer i=0 fwd_ms=... bwd_ms=... spec="conv2d(32, 3, padding=1)"
// (loss and optimizer are not in these; the first layer skips dx, as in training).
// bench/b2_cnn_torch.py measures the PyTorch reference with the same recipe.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
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
#include "core/layers/layer.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/optimizer.hpp"
#include "core/rng.hpp"
#include "core/schedule.hpp"
#include "trainer/trainer.hpp"

namespace lockstep::bench {
namespace {

const Shape kInput{3, 64, 64};
constexpr int64_t kClasses = 10;
const char* const kLayers =
    "conv2d(32, 3, padding=1), relu, maxpool2d(2), conv2d(64, 3, padding=1), relu, "
    "maxpool2d(2), conv2d(128, 3, padding=1), relu, maxpool2d(2), conv2d(256, 3, padding=1), "
    "relu, global_avg_pool, dense(10)";

struct Flags {
  std::string precision = "tf32";
  int64_t steps = 50;
  int64_t warmup = 10;
  int64_t batch = 256;  // per rank
  uint64_t seed = 1234;
  bool breakdown = false;
};

const char* const kUsage =
    "usage: [mpirun -np P] bench_b2_cnn [--precision fp32|tf32] [--steps N] [--warmup N] "
    "[--batch N] [--seed N] [--breakdown]\n";

// Returns false on a bad command line (the caller prints the usage).
bool parse_flags(int argc, char** argv, Flags& f) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return false;
    if (arg == "--breakdown") {
      f.breakdown = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (arg == "--precision") {
      if (value != "fp32" && value != "tf32") return false;
      f.precision = value;
      continue;
    }
    char* end = nullptr;
    const long long v = std::strtoll(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0') return false;
    if (arg == "--steps") {
      f.steps = v;
    } else if (arg == "--warmup") {
      f.warmup = v;
    } else if (arg == "--batch") {
      f.batch = v;
    } else if (arg == "--seed") {
      f.seed = static_cast<uint64_t>(v);
    } else {
      return false;
    }
  }
  return f.steps >= 1 && f.warmup >= 0 && f.batch >= 1;
}

// One batch of uniform [0, 1) inputs and int32 labels in [0, 10), distinct per
// rank, made on the host and copied once to the GPU.
void random_batch_on_gpu(int64_t batch, uint64_t seed, Tensor& x, Tensor& y) {
  Shape shape{batch};
  shape.insert(shape.end(), kInput.begin(), kInput.end());
  Tensor hx = Tensor::empty(shape, DType::kF32);
  Tensor hy = Tensor::empty({batch}, DType::kI32);
  Rng rng(seed);
  float* xs = hx.data<float>();
  for (int64_t i = 0; i < hx.numel(); ++i) xs[i] = static_cast<float>(rng.uniform());
  int32_t* ys = hy.data<int32_t>();
  for (int64_t i = 0; i < batch; ++i) ys[i] = static_cast<int32_t>(rng.below(kClasses));
  x = Tensor::empty(shape, DType::kF32, Device::kCuda);
  y = Tensor::empty({batch}, DType::kI32, Device::kCuda);
  x.copy_from(hx);
  y.copy_from(hy);
  device::synchronize();
}

// Milliseconds between two recorded events, after waiting for the second.
double elapsed_ms(const cuda::Event& a, const cuda::Event& b) {
  LOCKSTEP_CUDA_CHECK(cudaEventSynchronize(b.get()));
  float ms = 0.0f;
  LOCKSTEP_CUDA_CHECK(cudaEventElapsedTime(&ms, a.get(), b.get()));
  return static_cast<double>(ms);
}

int run(const Flags& f, const comm::MpiSession& mpi, comm::MpiCommunicator& mpi_comm) {
  const int gpus = device::count();
  if (gpus < 1) throw std::runtime_error("bench_b2_cnn: no GPU visible on this rank");
  const int gpu = mpi.local_rank() % gpus;
  device::select(gpu, device::parse_precision(f.precision));
  const device::Info info = device::info(gpu);

  // NCCL for the gradients, as `lockstep train` does on GPU ranks.
  std::unique_ptr<comm::Communicator> nccl = comm::make_nccl_communicator(mpi_comm);

  Model model(kLayers, kInput, DType::kF32, Device::kCuda);
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
  trainer::Trainer trainer(*nccl, model, Loss(LossKind::kCrossEntropy), sgd, LrSchedule(sched),
                           opts);
  trainer.broadcast_parameters();

  Tensor x, y;
  random_batch_on_gpu(f.batch, hash_keys({f.seed, static_cast<uint64_t>(mpi_comm.rank())}), x, y);

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
  mpi_comm.allreduce(std::span<double>(stats, 1), comm::ReduceOp::kMax);
  mpi_comm.allreduce(std::span<double>(stats + 1, 1), comm::ReduceOp::kMax);

  if (mpi_comm.rank() == 0) {
    const double global_batch = static_cast<double>(mpi_comm.size() * f.batch);
    std::printf("# B2 gpu=%d name=\"%s\" bus=%s ranks_per_gpu=%d params=%lld\n", gpu,
                info.name.c_str(), info.bus_id.c_str(), (mpi.local_size() + gpus - 1) / gpus,
                static_cast<long long>(model.num_params()));
    std::printf(
        "B2 cnn precision=%s ranks=%d median_ms=%.4f samples_per_s=%.1f batch=%lld steps=%lld "
        "warmup=%lld min_ms=%.4f wall_samples_per_s=%.1f mean_loss=%.4f\n",
        f.precision.c_str(), mpi_comm.size(), stats[0], global_batch * 1000.0 / stats[0],
        static_cast<long long>(f.batch), static_cast<long long>(f.steps),
        static_cast<long long>(f.warmup), stats[1],
        global_batch * static_cast<double>(f.steps) / seconds,
        loss / static_cast<double>((f.warmup + f.steps) * f.batch));
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
      print_breakdown("B2", times,
                      "precision=" + f.precision + " batch=" + std::to_string(f.batch));
  }
  return 0;
}

}  // namespace
}  // namespace lockstep::bench

int main(int argc, char** argv) {
  using namespace lockstep;
  return bench::mpi_main<bench::Flags>(
      argc, argv, "bench_b2_cnn", bench::kUsage, bench::parse_flags,
      [](const bench::Flags& flags, comm::MpiSession& mpi, comm::MpiCommunicator& comm) {
        return bench::run(flags, mpi, comm);
      });
}
