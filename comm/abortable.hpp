#pragma once
// One owner for a communicator handle that can be aborted (NCCL), and the
// owner's polling wait (see "Note: ownership on the abort path" in
// comm/watchdog.hpp).
//
// The handle is released exactly once, by its owner's thread: abort() (a
// failure: ncclCommAbort) or, if it was never aborted, the destructor
// (ncclCommDestroy). The watchdog's monitor thread never touches it; it only
// signals (Watchdog::aborting()), and wait_polling(), which runs on the owner's
// thread, turns the signal into the one abort(). Kept free of NCCL so that the
// CPU-only build tests it with a fake handle (tests/comm/abortable_test.cpp).

#include <chrono>
#include <functional>
#include <string>

#include "comm/watchdog.hpp"

namespace lockstep::comm {

template <class H>
class AbortableHandle {
 public:
  using Release = void (*)(H);

  AbortableHandle() = default;
  AbortableHandle(H handle, Release on_abort, Release on_destroy)
      : handle_(handle), abort_(on_abort), destroy_(on_destroy) {}
  ~AbortableHandle() {
    if (handle_ != H{} && !aborted_) destroy_(handle_);
  }
  AbortableHandle(const AbortableHandle&) = delete;
  AbortableHandle& operator=(const AbortableHandle&) = delete;

  /// The handle, for calls on the owner's thread (do not use it once aborted()).
  H get() const { return handle_; }
  bool aborted() const { return aborted_; }

  /// Releases the handle the failure way; later calls and the destructor do nothing.
  void abort() {
    if (handle_ == H{} || aborted_) return;
    aborted_ = true;
    abort_(handle_);
  }

 private:
  H handle_{};
  Release abort_ = nullptr;
  Release destroy_ = nullptr;
  bool aborted_ = false;
};

/// What one poll of an operation in flight found.
struct PollResult {
  bool done = false;
  std::string error;  // non-empty: the library reported a failure
};

/// Waits, on the owner's thread and inside a watchdog scope named `op`, until
/// `poll` reports the operation done. On a reported error: `abort` (the owner's
/// AbortableHandle::abort), then Watchdog::fail (by default: the message and
/// the end of the job) or, without a watchdog, an Error. When the watchdog
/// signals (its timeout fired elsewhere): `abort`, then wait for the job to
/// end; after `linger` an Error (the job should long have ended; tests use a
/// short one).
void wait_polling(Watchdog* watchdog, const char* op, const std::function<PollResult()>& poll,
                  const std::function<void()>& abort,
                  std::chrono::milliseconds linger = std::chrono::seconds(60));

}  // namespace lockstep::comm
