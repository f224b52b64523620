// Whole-model training steps, CPU against GPU: the trainer's step (forward,
// loss, backward, SGD update) from the same initial parameters and batch, on a
// dense model and on one with BatchNorm and residual blocks. Skips cleanly
// when no GPU is visible (as in CI); runs for real on the GPU machine.
// Tolerances as in tests/core/cuda_ops_test.cpp.

#include <gtest/gtest.h>

#include <cmath>

#include "comm/mpi.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/optimizer.hpp"
#include "core/schedule.hpp"
#include "tests/core/cuda_test_util.hpp"
#include "trainer/trainer.hpp"

namespace lockstep {
namespace {

using test::expect_close;
using test::random_host;
using Cuda = test::CudaTest;

// One training step of a whole model on the CPU and on the GPU from the same
// initial parameters and batch: forward, loss, backward, SGD update.
void check_whole_model_step(const char* layers) {
  SCOPED_TRACE(layers);
  comm::MpiCommunicator self(MPI_COMM_SELF);
  Model cpu_model(layers, {3, 8, 8});
  Model gpu_model(layers, {3, 8, 8}, DType::kF32, Device::kCuda);
  cpu_model.init_params(5, InitScheme::kHe);
  gpu_model.init_params(5, InitScheme::kHe);
  expect_close(cpu_model.params(), gpu_model.params(), 0, 0, "initial parameters");
  Sgd cpu_sgd(cpu_model.params(), {0.9, true, 5e-4});
  Sgd gpu_sgd(gpu_model.params(), {0.9, true, 5e-4});
  const ScheduleOptions sched{ScheduleKind::kConstant, 0.05, 10, 0, 0.0, 1, 0.1};
  trainer::TrainOptions opts;
  opts.epochs = 1;
  opts.batch_size = 32;
  opts.eval_batch_size = 32;
  opts.seed = 9;
  opts.progress = "off";
  opts.bucket_bytes = 1 << 20;
  trainer::Trainer ct(self, cpu_model, Loss(LossKind::kCrossEntropy), cpu_sgd, LrSchedule(sched),
                      opts);
  trainer::Trainer gt(self, gpu_model, Loss(LossKind::kCrossEntropy), gpu_sgd, LrSchedule(sched),
                      opts);
  Tensor x = random_host({32, 3, 8, 8}, 51);
  Tensor y = Tensor::empty({32}, DType::kI32);
  for (int i = 0; i < 32; ++i) y.data<int32_t>()[i] = i % 10;
  for (int step = 0; step < 3; ++step) {
    const LossSums a = ct.step(x, y);
    const LossSums b = gt.step(x, y);  // host batch: copied to the GPU by the trainer
    EXPECT_NEAR(a.loss, b.loss, 1e-4 * std::abs(a.loss)) << "step " << step;
  }
  expect_close(cpu_model.grads(), gpu_model.grads(), 1e-5, 1e-3, "gradients after 3 steps");
  expect_close(cpu_model.params(), gpu_model.params(), 1e-5, 1e-3, "parameters after 3 steps");
  if (cpu_model.buffers().numel() > 0)
    expect_close(cpu_model.buffers(), gpu_model.buffers(), 1e-5, 1e-3,
                 "BatchNorm running statistics after 3 steps");
}

TEST_F(Cuda, WholeModelStepMatchesCpu) {
  check_whole_model_step(
      "dense(64), relu, dropout(0.25), dense(32), tanh, dense(16), sigmoid, dense(10)");
}

// BatchNorm (dense and image activations) and a residual block in one model.
TEST_F(Cuda, BatchNormResidualModelStepMatchesCpu) {
  check_whole_model_step(
      "conv2d(8, 3, padding=1), batchnorm, relu, residual(conv2d(8, 3, padding=1), batchnorm, "
      "relu), maxpool2d(2), dense(32), batchnorm, relu, residual(dense(32), tanh), dense(10)");
}

}  // namespace
}  // namespace lockstep
