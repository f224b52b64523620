// B6 (BENCH.md): GPU throughput of examples/perception_resnet.ini's model (a
// stem convolution, three stages of residual blocks with BatchNorm, global
// average pooling, dense(10)) on 3x64x64 inputs, batch 256 per rank, softmax
// cross-entropy, SGD momentum 0.9, random inputs that stay on the GPU, trained
// by trainer::Trainer::step. The layer spec is the example's own `layers`
// line, read from the file when CMake configures (resnet_spec.hpp), so the
// benchmark follows the example. The harness and the output lines are in
// gpu_step_bench.hpp:
//   B6 resnet precision=bf16 ranks=1 median_ms=... samples_per_s=... batch=256 ...
// bench/resnet_torch.py measures the same model in PyTorch (it reads the same line).

#include "bench/gpu_step_bench.hpp"
#include "resnet_spec.hpp"

int main(int argc, char** argv) {
  using namespace lockstep;
  const bench::GpuStepBench b6{"B6", "resnet", "bench_resnet", bench::kResnetLayers, {3, 64, 64},
                               10, 256};
  return bench::gpu_step_main(argc, argv, b6);
}
