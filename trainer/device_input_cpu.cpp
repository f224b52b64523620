// CPU-only build of trainer/device_input.hpp: every tensor is on the CPU, so
// the copy (if any) is a plain one into a host buffer.

#include "trainer/device_input.hpp"

namespace lockstep::trainer {

struct DeviceInput::Impl {
  Tensor staging;
};

DeviceInput::DeviceInput() : impl_(std::make_unique<Impl>()) {}
DeviceInput::~DeviceInput() = default;

const Tensor& DeviceInput::to_device(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  ensure_shape(impl_->staging, t.shape(), t.dtype(), device);
  impl_->staging.copy_from(t);
  return impl_->staging;
}

}  // namespace lockstep::trainer
