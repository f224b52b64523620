#pragma once
// Collectives queued on a device that the host does not wait for, and how a
// hung or failed one still ends the job (README "Failure behaviour").
//
// Waiting for an NCCL collective is stream-ordered: the compute stream waits
// on the collective's completion event and the training thread goes on. No
// watchdog scope covers such a collective (the thread is not inside a call),
// so its owner records it here (add), and:
//
// - the owner's thread, at every launch and wait (check): retires the
//   completed collectives (non-blocking probes, oldest first, no sleeping);
//   on the library's asynchronous error, or once the watchdog signals, it
//   aborts the handle itself, once, and reports like wait_polling does;
// - a monitor thread (when the watchdog has a timeout) probes the oldest
//   collective a few times per timeout. One in flight for longer than the
//   timeout, or an asynchronous error, is reported once: the watchdog's abort
//   hooks, then Watchdog::fail (its handler; by default the end of the job). This
//   catches a collective that hangs while the owner's thread is blocked
//   elsewhere (a host read that waits on the stream behind it).
//   A collective is timed from when it was queued: the timeout must exceed
//   how far the host runs ahead of the device, a few steps at most (the
//   host's reads of results and the input slots bound it).
//
// The monitor never aborts the handle ("Note: ownership on the abort path" in
// comm/watchdog.hpp): the probes it calls only read (cudaEventQuery,
// ncclCommGetAsyncError), under the lock the owner's abort takes too, and
// never after that abort. Kept free of NCCL and CUDA so that the CPU-only
// build tests it with fake probes (tests/comm/inflight_test.cpp).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "comm/watchdog.hpp"

namespace lockstep::comm {

class InflightCollectives {
 public:
  /// Non-blocking: has the collective completed? (May run on the monitor thread.)
  using Done = std::function<bool()>;
  /// Non-blocking: the library's asynchronous failure, or "" (may run on the
  /// monitor thread; never after `abort`).
  using AsyncError = std::function<std::string()>;

  /// `abort`: the owner's AbortableHandle::abort. `monitor_init` runs first on
  /// the monitor thread (e.g. selecting the GPU). `linger`: as in wait_polling.
  InflightCollectives(Watchdog* watchdog, AsyncError async_error, std::function<void()> abort,
                      std::function<void()> monitor_init = {},
                      std::chrono::milliseconds linger = std::chrono::seconds(60));
  ~InflightCollectives();  // stops the monitor
  InflightCollectives(const InflightCollectives&) = delete;
  InflightCollectives& operator=(const InflightCollectives&) = delete;

  /// Owner: collective `op` (a literal) was queued; `done` probes it.
  void add(const char* op, Done done);
  /// Owner, non-blocking: retires completed collectives; on an asynchronous
  /// error or the watchdog's signal: aborts (once) and reports or throws.
  void check();
  /// Collectives not yet seen complete.
  size_t pending() const;
  /// True once the handle was aborted (do not use it any more).
  bool aborted() const;

 private:
  struct Entry {
    const char* op;
    Done done;
    int64_t since_ns;
  };
  void retire_locked();
  void abort_locked();
  void monitor();

  Watchdog* const watchdog_;
  const AsyncError async_error_;
  const std::function<void()> abort_;
  const std::function<void()> monitor_init_;
  const std::chrono::milliseconds linger_;

  mutable std::mutex mutex_;  // guards everything below
  std::deque<Entry> queue_;   // in launch order (they complete in it: one stream)
  bool aborted_ = false;
  bool reported_ = false;  // the monitor reported a failure (once)
  bool stop_ = false;
  std::condition_variable stop_cv_;
  std::thread monitor_;  // last: started when everything above exists
};

}  // namespace lockstep::comm
