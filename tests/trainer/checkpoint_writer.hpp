#pragma once
// The checkpoints tests/trainer/checkpoint_writer.cpp writes: step s holds
// parameters and optimizer state that are a pure function of s.

#include <cstdint>

#include "io/model_file.hpp"

namespace lockstep::test {

constexpr int64_t kWriterParams = 1 << 18;  // 1 MB of parameters, 1 MB of state

inline float writer_value(int64_t step, int64_t i) {
  return static_cast<float>((step * 7919 + i) % 100003) * 0.5f;
}

inline io::SavedModel writer_checkpoint(int64_t step) {
  io::SavedModel m;
  m.layers = "dense(1)";
  m.input_shape = {kWriterParams};
  m.loss = "mse";
  m.num_outputs = 1;
  m.layout = {{"w", {kWriterParams}, 0}};
  m.parameters.resize(kWriterParams);
  for (int64_t i = 0; i < kWriterParams; ++i) m.parameters[i] = writer_value(step, i);
  io::TrainingState t;
  t.optimizer = "sgd";
  t.optimizer_steps = step;
  t.optimizer_slabs.emplace_back("velocity", m.parameters);
  t.step = step;
  m.training = std::move(t);
  return m;
}

}  // namespace lockstep::test
