#pragma once
// A CUDA graph of the work one thread queues on the current stream: begin()
// starts capturing (this thread's calls only, so that the input pipeline's
// copies on other threads go on), end() instantiates what was queued, and
// launch() replays it. Captured kernels keep their arguments: every buffer
// they touch must stay where it was (sized before capture), and every value
// that changes per step must be read from device memory.
//
// cuda/graph.cu implements it; graph_cpu.cpp (no CUDA backend) refuses.

#include <memory>

namespace lockstep {

class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// Starts capturing the current stream (nothing queued runs until launch()).
  void begin();
  /// Ends the capture and instantiates the graph.
  void end();
  /// Ends a capture after an error and discards it (safe when none is open).
  void abort() noexcept;
  bool ready() const;
  /// Replays the graph on the current stream.
  void launch();
  /// Discards the graph (its buffers moved, or the shapes changed).
  void reset() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep
