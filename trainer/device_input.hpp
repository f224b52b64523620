#pragma once
// The input batch on the model's device (DESIGN.md "Data": pinned buffers,
// asynchronous copies). Backends chosen at build time: device_input_cuda.cpp
// with the CUDA backend, device_input_cpu.cpp without.
//
// On a GPU each tensor is copied on a copy stream of its own into one of two
// device buffers in turn, and the compute stream waits on the copy's event.
// The host queues a step's work ahead of the device, so the copy of the next
// batch can run while the device still computes the current one: a buffer
// is refilled only after the compute stream's uses of it (the call before the
// previous one; each returned tensor is used before the next call) and its
// copy waits for nothing newer. The pinned source stays readable until the
// copy has run: the input pipeline refills a slot only after
// memory::wait_device_reads (core/memory.hpp).

#include <memory>

#include "core/tensor.hpp"

namespace lockstep::trainer {

class DeviceInput {
 public:
  DeviceInput();
  ~DeviceInput();
  DeviceInput(const DeviceInput&) = delete;
  DeviceInput& operator=(const DeviceInput&) = delete;

  /// `t` on `device`: itself when already there, else a copy in one of this
  /// object's buffers, valid until the call after next.
  const Tensor& to_device(const Tensor& t, Device device);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep::trainer
