// core/transfer.hpp: the host side of the asynchronous transfers; the CUDA
// calls are behind async_detail (cuda/transfer.cu, or transfer_cpu.cpp).

#include "core/transfer.hpp"

#include <cstring>

namespace lockstep {

void Readback::start(const Tensor& src) {
  if (pending_) wait();
  if (!host_.defined() || host_.shape() != src.shape() || host_.dtype() != src.dtype())
    host_ = Tensor::empty_pinned(src.shape(), src.dtype());
  started_ = true;
  if (src.device() == Device::kCpu) {
    host_.copy_from(src);
    return;
  }
  if (!event_) event_ = async_detail::make_event();
  async_detail::copy_async(host_.raw(), src.raw(),
                           static_cast<size_t>(src.numel()) * dtype_size(src.dtype()));
  async_detail::record(event_.get());
  pending_ = true;
}

bool Readback::ready() const {
  return !pending_ || async_detail::done(event_.get());
}

const Tensor& Readback::wait() {
  LOCKSTEP_CHECK(started_, "readback: wait() before any start()");
  if (pending_) {
    if (!async_detail::done(event_.get())) ++blocking_waits_;
    async_detail::wait(event_.get());
    pending_ = false;
  }
  return host_;
}

void Upload::send(std::span<const double> values, Tensor& dst) {
  LOCKSTEP_CHECK(dst.dtype() == DType::kF64 && dst.numel() >= static_cast<int64_t>(values.size()),
                 "upload: expected a float64 destination of at least "
                     << values.size() << " elements, got " << dst.numel() << " "
                     << to_string(dst.dtype()));
  if (dst.device() == Device::kCpu) {
    std::memcpy(dst.data<double>(), values.data(), values.size() * sizeof(double));
    return;
  }
  if (slots_.empty()) slots_.resize(kSlots);
  Slot& slot = slots_[next_];
  next_ = (next_ + 1) % kSlots;
  const auto n = static_cast<int64_t>(values.size());
  if (!slot.host.defined() || slot.host.numel() < n) {
    slot.host = Tensor::empty_pinned({n}, DType::kF64);
  } else if (slot.event) {
    async_detail::wait(slot.event.get());  // the copy kSlots sends ago: long done
  }
  if (!slot.event) slot.event = async_detail::make_event();
  std::memcpy(slot.host.data<double>(), values.data(), values.size() * sizeof(double));
  async_detail::copy_async(dst.raw(), slot.host.raw(), values.size() * sizeof(double));
  async_detail::record(slot.event.get());
}

void StreamInterval::mark_begin() {
  open_ = last_ == 0 ? 1 : 0;  // the slot not holding the last interval
  Marks& m = marks_[open_];
  if (!m.begin) {
    m.begin = async_detail::make_timing_event();
    m.end = async_detail::make_timing_event();
  }
  m.recorded = false;
  async_detail::record(m.begin.get());
}

void StreamInterval::mark_end() {
  LOCKSTEP_CHECK(open_ >= 0, "stream interval: mark_end() without mark_begin()");
  async_detail::record(marks_[open_].end.get());
  marks_[open_].recorded = true;
  last_ = open_;
  open_ = -1;
}

double StreamInterval::previous_seconds() {
  const int prev = last_ < 0 ? -1 : 1 - last_;
  if (prev < 0 || !marks_[prev].recorded) return 0.0;
  async_detail::wait(marks_[prev].end.get());
  return async_detail::elapsed_seconds(marks_[prev].begin.get(), marks_[prev].end.get());
}

}  // namespace lockstep
