// B1 (BENCH.md): GPU throughput of the MLP 3072-4096-4096-4096-10 (ReLU,
// softmax cross-entropy, SGD momentum 0.9) trained by trainer::Trainer::step,
// batch 1024 per rank, random inputs that stay on the GPU; the harness and the
// output lines are in gpu_step_bench.hpp:
//   B1 mlp precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=1024 ...
// bench/b1_mlp_torch.py measures the PyTorch reference with the same recipe.

#include "bench/gpu_step_bench.hpp"

int main(int argc, char** argv) {
  using namespace lockstep;
  const bench::GpuStepBench b1{"B1",
                               "mlp",
                               "bench_b1_mlp",
                               "dense(4096), relu, dense(4096), relu, dense(4096), relu, dense(10)",
                               {3072},
                               10,
                               1024};
  return bench::gpu_step_main(argc, argv, b1);
}
