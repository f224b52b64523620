// B2 (BENCH.md): GPU throughput of a small ConvNet trained by
// trainer::Trainer::step: input 3x64x64, conv3x3(32)-ReLU-maxpool2,
// conv3x3(64)-ReLU-maxpool2, conv3x3(128)-ReLU-maxpool2, conv3x3(256)-ReLU,
// global average pool, dense(10); padding 1, softmax cross-entropy, SGD
// momentum 0.9, batch 256 per rank, random inputs that stay on the GPU; the
// harness and the output lines are in gpu_step_bench.hpp:
//   B2 cnn precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=256 ...
// --breakdown then gives the per-phase table of the step (breakdown.hpp: each
// layer's forward and backward, the loss, the all-reduce, the optimizer,
// medians over real steps); --layer-times times each layer alone.
// bench/b2_cnn_torch.py measures the PyTorch reference with the same recipe.

#include "bench/gpu_step_bench.hpp"

int main(int argc, char** argv) {
  using namespace lockstep;
  const bench::GpuStepBench b2{
      "B2",
      "cnn",
      "bench_b2_cnn",
      "conv2d(32, 3, padding=1), relu, maxpool2d(2), conv2d(64, 3, padding=1), relu, "
      "maxpool2d(2), conv2d(128, 3, padding=1), relu, maxpool2d(2), conv2d(256, 3, padding=1), "
      "relu, global_avg_pool, dense(10)",
      {3, 64, 64},
      10,
      256};
  return bench::gpu_step_main(argc, argv, b2);
}
