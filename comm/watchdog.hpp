#pragma once
// Watchdog for collectives (README "Failure behaviour").
//
// A rank that stops participating (hung, stopped, cut off) leaves every other
// rank blocked in its next collective forever: MPI and NCCL have no timeout of
// their own. Communicators mark each collective with a Scope ("in allreduce
// since t"); the trainer publishes the current step with set_step(). A monitor
// thread wakes a few times per timeout and, when one collective has lasted
// longer than the timeout, reports it (rank, operation, step), signals the
// abort (aborting() turns true, the abort hooks run) and ends the whole job
// with exit code kExitCollectiveFailed.
//
// Note: ownership on the abort path. The watchdog only *signals*. It never
// aborts, destroys or otherwise touches a communicator: a communicator's owner
// (the training thread, which polls while it waits: NcclRequest) sees
// aborting() and aborts its handle itself, exactly once (AbortableHandle,
// comm/abortable.hpp), and its destructor then does not destroy it again. An
// abort hook must only set flags; hooks run at most once, under the hook lock,
// so remove_abort_hook() returns only once no hook is running.
//
// Cost per collective: one steady-clock read and a few relaxed atomic stores;
// no locks, no system calls, no extra communication. Collectives are called
// from one thread (the training thread); the monitor only reads.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace lockstep::comm {

/// Exit code of a rank that ends the job because a collective timed out or a
/// communication library reported a failure (README "Failure behaviour").
inline constexpr int kExitCollectiveFailed = 3;

class Watchdog {
 public:
  /// Receives the complete message ("lockstep: rank 0: allreduce ... aborting").
  using Handler = std::function<void(const std::string& message)>;

  /// timeout_s > 0 starts the monitor thread; 0 turns the timeout off (scopes
  /// and fail() still work). on_failure defaults to report_and_end_job; tests
  /// pass their own.
  explicit Watchdog(int rank, double timeout_s, Handler on_failure = {});
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  int rank() const { return rank_; }
  double timeout_s() const { return timeout_s_; }

  /// The training step in progress (global steps done before it), for messages.
  void set_step(int64_t step) noexcept { step_.store(step, std::memory_order_relaxed); }
  int64_t step() const noexcept { return step_.load(std::memory_order_relaxed); }

  /// Marks "in collective `op`" for its lifetime. `part`, `index` and `count`
  /// add detail: ("allreduce", "gradient bucket", 2, 3) reads "allreduce
  /// (gradient bucket 2 of 3)". The strings must be literals (or otherwise
  /// outlive the scope). A nested scope keeps the outer one's description and
  /// start time. A null watchdog makes the scope a no-op.
  class Scope {
   public:
    Scope(Watchdog* w, const char* op, const char* part = nullptr, int index = 0,
          int count = 0) noexcept;
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Watchdog* w_;
  };

  /// The collective in progress, "allreduce (gradient bucket 2 of 3)", or ""
  /// when none.
  std::string current_operation() const;

  /// For backends that detect a failure themselves (an NCCL async error):
  /// reports "<operation> failed at step S: <what>" through the handler (by
  /// default: abort hooks, end of the job). Throws Error when a test handler
  /// returns.
  [[noreturn]] void fail(const std::string& what);

  /// Signals run (on the monitor thread, or whichever thread failed) before the
  /// job ends on a failure. A hook must only signal (set a flag, notify): it
  /// must not free or abort anything its owner may also release. Remove with
  /// the returned id; once remove_abort_hook returns, the hook is not running
  /// and will not run.
  int add_abort_hook(std::function<void()> hook);
  void remove_abort_hook(int id);
  /// Sets aborting() and runs the hooks; only the first call runs them.
  void run_abort_hooks();
  /// True once the job is ending on a failure (the monitor's timeout, or
  /// run_abort_hooks): a communicator's owner aborts its handle (once) and
  /// stops using it; its waits just wait for the end.
  bool aborting() const noexcept { return aborting_.load(std::memory_order_acquire); }

  /// Writes "lockstep: rank R at step S[, in OP]\n" to fd using only write(2):
  /// safe to call from a signal handler.
  void write_position(int fd) const noexcept;

  /// The default handler: prints the message to stderr, runs the abort hooks
  /// and ends every rank of the job with kExitCollectiveFailed.
  [[noreturn]] void report_and_end_job(const std::string& message);

 private:
  struct Snapshot {
    bool active = false;
    const char* op = nullptr;
    const char* part = nullptr;
    int index = 0, count = 0;
    int64_t since_ns = 0;
    uint64_t seq = 0;
  };
  Snapshot snapshot() const noexcept;
  static std::string describe(const Snapshot& s);
  void monitor();
  std::string message(const Snapshot& s, const std::string& what) const;

  const int rank_;
  const double timeout_s_;
  Handler on_failure_;
  std::atomic<int64_t> step_{0};

  // The scope state, published seqlock-style: odd seq_ = inside a collective;
  // the fields are written only while seq_ is even.
  std::atomic<uint64_t> seq_{0};
  std::atomic<const char*> op_{nullptr};
  std::atomic<const char*> part_{nullptr};
  std::atomic<int> index_{0}, count_{0};
  std::atomic<int64_t> since_ns_{0};
  int depth_ = 0;  // the collective thread's nesting depth

  std::mutex hooks_mutex_;
  std::vector<std::pair<int, std::function<void()>>> hooks_;
  int next_hook_ = 0;
  std::atomic<bool> aborting_{false};

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread monitor_;
};

/// Ends every rank of the job now with `code` (MPI_Abort when MPI is running,
/// else _Exit; a fallback timer _Exits should MPI_Abort not return promptly).
/// Callable from any thread.
[[noreturn]] void end_job(int code);

}  // namespace lockstep::comm
