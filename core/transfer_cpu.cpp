// core/transfer.hpp without the CUDA backend: no device tensor can exist, so
// the device hooks are never reached (the host copies are done in place).

#include "core/transfer.hpp"

#include <string>

namespace lockstep {
namespace async_detail {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw Error(std::string("transfer: ") + what + " needs the CUDA backend, which this build lacks");
}
}  // namespace

void EventDeleter::operator()(EventHandle*) const noexcept {}
Event make_event() {
  no_cuda("an event");
}
Event make_timing_event() {
  no_cuda("an event");
}
double elapsed_seconds(EventHandle*, EventHandle*) {
  no_cuda("an event");
}
void record(EventHandle*) {
  no_cuda("an event");
}
void wait(EventHandle*) {
  no_cuda("an event");
}
bool done(EventHandle*) {
  no_cuda("an event");
}
void copy_async(void*, const void*, size_t) {
  no_cuda("an asynchronous copy");
}

}  // namespace async_detail

bool stream_idle() {
  return true;
}

}  // namespace lockstep
