// CUDA build of core/graph.hpp.

#include "core/cuda/runtime.hpp"
#include "core/cuda/workspace.hpp"
#include "core/graph.hpp"

namespace lockstep {

struct Graph::Impl {
  cudaStream_t capturing = nullptr;  // the stream under capture, if any
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  uint64_t workspace_generation = 0;  // the shared conv workspace's, at capture
};

Graph::Graph() : impl_(std::make_unique<Impl>()) {}

Graph::~Graph() {
  abort();
  reset();
}

void Graph::begin() {
  reset();
  const cudaStream_t s = cuda::current_stream();
  LOCKSTEP_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  impl_->capturing = s;
}

void Graph::end() {
  LOCKSTEP_CHECK(impl_->capturing != nullptr, "graph: end() without begin()");
  const cudaStream_t s = impl_->capturing;
  impl_->capturing = nullptr;
  LOCKSTEP_CUDA_CHECK(cudaStreamEndCapture(s, &impl_->graph));
  LOCKSTEP_CUDA_CHECK(cudaGraphInstantiate(&impl_->exec, impl_->graph, 0));
  impl_->workspace_generation = cuda::shared_workspace_generation();
}

void Graph::abort() noexcept {
  if (impl_->capturing == nullptr) return;
  cudaGraph_t partial = nullptr;
  cudaStreamEndCapture(impl_->capturing, &partial);
  if (partial) cudaGraphDestroy(partial);
  cudaGetLastError();  // the capture's error is the one already thrown
  impl_->capturing = nullptr;
}

// A graph whose convolutions' shared workspace has moved since its capture
// (an evaluation with a larger batch grew it) would write freed memory: it is
// no longer ready, and the caller captures it again.
bool Graph::ready() const {
  return impl_->exec != nullptr &&
         impl_->workspace_generation == cuda::shared_workspace_generation();
}

void Graph::launch() {
  LOCKSTEP_CHECK(ready(), "graph: launch() before a capture ended");
  LOCKSTEP_CUDA_CHECK(cudaGraphLaunch(impl_->exec, cuda::current_stream()));
}

void Graph::reset() noexcept {
  if (impl_->exec) cudaGraphExecDestroy(impl_->exec);
  if (impl_->graph) cudaGraphDestroy(impl_->graph);
  impl_->exec = nullptr;
  impl_->graph = nullptr;
}

}  // namespace lockstep
