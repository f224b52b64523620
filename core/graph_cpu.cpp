// core/graph.hpp without the CUDA backend: there is nothing to capture.

#include "core/graph.hpp"

#include "core/error.hpp"

namespace lockstep {

struct Graph::Impl {};

Graph::Graph() : impl_(std::make_unique<Impl>()) {}
Graph::~Graph() = default;

void Graph::begin() {
  throw Error("dist.cuda_graph: CUDA graphs need the CUDA backend, which this build lacks");
}
void Graph::end() {
  throw Error("graph: end() without begin()");
}
void Graph::abort() noexcept {}
bool Graph::ready() const {
  return false;
}
void Graph::launch() {
  throw Error("graph: launch() before a capture ended");
}
void Graph::reset() noexcept {}

}  // namespace lockstep
