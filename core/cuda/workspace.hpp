#pragma once
// The one scratch buffer of the selected GPU that the convolutions share (both
// backends: im2col's col matrix; cuDNN's algorithm workspace and bf16 copies),
// instead of one per layer: only one op runs at a time on a process's
// streams, so one buffer as large as the largest request is enough. CUDA
// builds only.
//
// It is device memory from the stream-ordered pool (core/memory.hpp), grown
// (never shrunk) when a request is larger, rounded up to 2 MiB so that a few
// growths reach the steady state and a step at a fixed shape allocates
// nothing. A request from another stream than the previous one waits (on the
// GPU, through an event) for the work queued there, which may still read the
// buffer. Ops of one process call it from one host thread at a time, as they
// share the cuBLAS handle.

#include <cstddef>
#include <cstdint>

namespace lockstep::cuda {

/// At least `bytes` of device scratch, valid on the current stream until the
/// next call (which may move it).
void* shared_workspace(size_t bytes);
/// Its current size in bytes (0 before the first request).
size_t shared_workspace_bytes();
/// Counts the buffer's moves (each growth): a CUDA graph captured while it
/// was g holds its old address once it is no longer g (core/graph.hpp).
uint64_t shared_workspace_generation();

}  // namespace lockstep::cuda
