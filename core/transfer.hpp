#pragma once
// Small asynchronous transfers between the host and a device buffer, for the
// few values a training step exchanges with the host (learning rate in; loss
// sums and the skip flag out) without a host sync inside the step.
//
// Device tensors: copies go on the current stream from or into pinned host
// memory, and an event records their completion. Host tensors (CPU ranks):
// the copy is done at once and there is nothing to wait for, so CPU ranks
// see the same API with no lag.
//
// Implemented here (transfer.cpp) over a few CUDA hooks (cuda/transfer.cu;
// transfer_cpu.cpp in a build without CUDA, where no device tensor exists).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/tensor.hpp"

namespace lockstep {

namespace async_detail {
// An event on the current stream (CUDA builds); opaque to plain C++.
struct EventHandle;
struct EventDeleter {
  void operator()(EventHandle* e) const noexcept;
};
using Event = std::unique_ptr<EventHandle, EventDeleter>;
Event make_event();
Event make_timing_event();  // an event that can be timed (elapsed_seconds)
double elapsed_seconds(EventHandle* from, EventHandle* to);  // both complete
void record(EventHandle* e);                                // on the current stream
void wait(EventHandle* e);                                  // host wait
bool done(EventHandle* e);                                  // completed (no wait)
void copy_async(void* dst, const void* src, size_t bytes);  // on the current stream
}  // namespace async_detail

/// A device tensor read back into pinned host memory without blocking the
/// host: start() queues the copy, wait() returns the values once it has run.
class Readback {
 public:
  /// Queues a copy of `src` (any device) taken after the work queued so far.
  /// A copy still pending is waited for first (its values are then lost).
  void start(const Tensor& src);
  bool pending() const { return pending_; }
  /// Whether the pending copy has completed (true when none is pending).
  bool ready() const;
  /// Waits for the copy started last; its host values (valid until the
  /// next start). Throws when no copy was started.
  const Tensor& wait();
  /// Host waits that found the copy not yet complete (tests, debugging).
  int64_t blocking_waits() const { return blocking_waits_; }

 private:
  Tensor host_;  // pinned
  async_detail::Event event_;
  bool pending_ = false;
  bool started_ = false;
  int64_t blocking_waits_ = 0;
};

/// Host values written into a device tensor by one asynchronous copy each
/// time, from a ring of pinned slots: a slot is rewritten only after the copy
/// that last read it has run (its event), so the host never races a queued
/// copy and never waits in the steady state.
class Upload {
 public:
  /// dst[0, values.size()) = values (dst float64, any device), ordered on the
  /// current stream after the work queued so far.
  void send(std::span<const double> values, Tensor& dst);

 private:
  static constexpr size_t kSlots = 4;
  struct Slot {
    Tensor host;  // pinned
    async_detail::Event event;
  };
  std::vector<Slot> slots_;
  size_t next_ = 0;
};

/// How long the current stream of a GPU spends between mark_begin() and
/// mark_end() (CUDA events), read a step later so that the host does not
/// wait for the interval it just queued: previous_seconds() returns the
/// interval before the last one, waiting for it if it has not yet run
/// (normally long done), or 0 when there is none. For a stall such as the
/// main stream waiting for the gradient all-reduce, which the host no longer
/// sees (comm/nccl.hpp: stream-ordered waits).
class StreamInterval {
 public:
  void mark_begin();
  void mark_end();
  double previous_seconds();

 private:
  struct Marks {
    async_detail::Event begin, end;
    bool recorded = false;
  };
  Marks marks_[2];
  int last_ = -1;  // the slot mark_end() recorded last
  int open_ = -1;  // the slot mark_begin() recorded into
};

/// Whether every queued operation on the current stream has run (CPU: true).
/// Tests use it to check that a training step returns before the GPU is done.
bool stream_idle();

}  // namespace lockstep
