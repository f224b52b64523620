// CPU-only build of core/device.hpp.

#include "core/device.hpp"
#include "core/error.hpp"

namespace lockstep::device {

int count() {
  return 0;
}
bool built_with_cuda() {
  return false;
}

Info info(int device) {
  throw Error("GPU " + std::to_string(device) + ": this build of lockstep has no CUDA backend");
}

void select(int device, Precision /*precision*/) {
  throw Error("GPU " + std::to_string(device) +
              " requested, but this build of lockstep has no CUDA backend (use --dist.device cpu)");
}

int selected() {
  return -1;
}
void synchronize() {}

}  // namespace lockstep::device
