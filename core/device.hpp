#pragma once
// GPUs as seen from plain C++: how many, which, and which one this process
// uses. Implemented by device_cpu.cpp in a CPU-only build (no GPUs) and by
// cuda/device.cu with the CUDA backend.

#include <string>

#include "core/precision.hpp"

namespace lockstep::device {

/// Visible GPUs (0 in a CPU-only build or when the driver reports none).
int count();
/// True when this build has the CUDA backend.
bool built_with_cuda();

struct Info {
  std::string name;
  std::string bus_id;  // PCI bus id, e.g. "0000:3B:00.0"
  size_t memory_bytes = 0;
};
Info info(int device);

using Precision = lockstep::Precision;  // core/precision.hpp
using lockstep::parse_precision;

/// Makes `device` this process's GPU: cudaSetDevice, the main stream, the
/// cuBLAS handle, the memory pool, and the compute precision
/// (set_compute_precision).
void select(int device, Precision precision);
/// The selected GPU, or -1.
int selected();
/// Waits for all work queued on the main stream.
void synchronize();

}  // namespace lockstep::device
