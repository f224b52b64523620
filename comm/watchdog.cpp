#include "comm/watchdog.hpp"

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "comm/mpi.hpp"
#include "core/error.hpp"

namespace lockstep::comm {

namespace {

int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Async-signal-safe helpers for write_position.
void put(int fd, const char* s) noexcept {
  size_t n = std::strlen(s);
  while (n > 0) {
    const ssize_t w = ::write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

void put_int(int fd, int64_t v) noexcept {
  char buf[24];
  char* p = buf + sizeof buf;
  *--p = '\0';
  const bool neg = v < 0;
  uint64_t u = neg ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    *--p = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (neg) *--p = '-';
  put(fd, p);
}

}  // namespace

Watchdog::Watchdog(int rank, double timeout_s, Handler on_failure)
    : rank_(rank), timeout_s_(timeout_s), on_failure_(std::move(on_failure)) {
  LOCKSTEP_CHECK(timeout_s >= 0, "watchdog: expected a timeout >= 0 s, got " << timeout_s);
  if (timeout_s > 0) monitor_ = std::thread([this] { monitor(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

Watchdog::Scope::Scope(Watchdog* w, const char* op, const char* part, int index, int count) noexcept
    : w_(w) {
  if (w_ == nullptr || w_->depth_++ > 0) return;
  w_->op_.store(op, std::memory_order_relaxed);
  w_->part_.store(part, std::memory_order_relaxed);
  w_->index_.store(index, std::memory_order_relaxed);
  w_->count_.store(count, std::memory_order_relaxed);
  w_->since_ns_.store(now_ns(), std::memory_order_relaxed);
  w_->seq_.fetch_add(1, std::memory_order_release);  // odd: in a collective
}

Watchdog::Scope::~Scope() {
  if (w_ == nullptr || --w_->depth_ > 0) return;
  w_->seq_.fetch_add(1, std::memory_order_release);  // even: idle
}

Watchdog::Snapshot Watchdog::snapshot() const noexcept {
  Snapshot s;
  const uint64_t before = seq_.load(std::memory_order_acquire);
  if (before % 2 == 0) return s;
  s.op = op_.load(std::memory_order_relaxed);
  s.part = part_.load(std::memory_order_relaxed);
  s.index = index_.load(std::memory_order_relaxed);
  s.count = count_.load(std::memory_order_relaxed);
  s.since_ns = since_ns_.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (seq_.load(std::memory_order_relaxed) != before) return Snapshot{};  // changed meanwhile
  s.active = true;
  s.seq = before;
  return s;
}

std::string Watchdog::current_operation() const {
  return describe(snapshot());
}

std::string Watchdog::describe(const Snapshot& s) {
  if (!s.active) return "";
  std::ostringstream text;
  text << (s.op ? s.op : "collective");
  if (s.part) {
    text << " (" << s.part;
    if (s.count > 0) text << " " << s.index << " of " << s.count;
    text << ")";
  }
  return text.str();
}

std::string Watchdog::message(const Snapshot& s, const std::string& what) const {
  std::string op = describe(s);
  if (op.empty()) op = "a collective";
  return "lockstep: rank " + std::to_string(rank_) + ": " + op + " " + what + " at step " +
         std::to_string(step()) + ": ";
}

void Watchdog::monitor() {
  using namespace std::chrono;
  // Check a few times per timeout: the job ends within about timeout * 1.1.
  const auto period = duration<double>(std::min(1.0, std::max(0.01, timeout_s_ / 10)));
  const auto limit_ns = static_cast<int64_t>(timeout_s_ * 1e9);
  uint64_t reported = 0;  // the seq of a collective already reported
  std::unique_lock<std::mutex> lock(stop_mutex_);
  while (!stop_cv_.wait_for(lock, period, [this] { return stop_; })) {
    const Snapshot s = snapshot();
    if (!s.active || s.seq == reported || now_ns() - s.since_ns < limit_ns) continue;
    reported = s.seq;
    char limit[32];
    std::snprintf(limit, sizeof limit, "%g", timeout_s_);
    const std::string text = message(s, std::string("did not complete within ") + limit + " s") +
                             "a rank stopped participating or the network failed; aborting";
    lock.unlock();
    // Tell the owners first (they abort their communicators on their own
    // thread), then report; the default handler ends the job.
    run_abort_hooks();
    if (on_failure_) {
      on_failure_(text);
    } else {
      report_and_end_job(text);
    }
    lock.lock();
  }
}

void Watchdog::fail(const std::string& what) {
  const std::string text = message(snapshot(), "failed") + what + "; aborting";
  if (on_failure_) {
    on_failure_(text);
    throw Error(text);
  }
  report_and_end_job(text);
}

int Watchdog::add_abort_hook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  hooks_.emplace_back(next_hook_, std::move(hook));
  return next_hook_++;
}

void Watchdog::remove_abort_hook(int id) {
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  std::erase_if(hooks_, [id](const auto& h) { return h.first == id; });
}

void Watchdog::run_abort_hooks() {
  // Under the lock: a hook never runs after (or while) remove_abort_hook
  // returns, so it cannot reach state its owner already freed. Only the first
  // caller (the monitor's timeout, fail() on the training thread) runs them.
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  if (aborting_.exchange(true, std::memory_order_acq_rel)) return;
  for (auto& h : hooks_) h.second();
}

void Watchdog::write_position(int fd) const noexcept {
  put(fd, "lockstep: rank ");
  put_int(fd, rank_);
  put(fd, " at step ");
  put_int(fd, step());
  const uint64_t seq = seq_.load(std::memory_order_acquire);
  const char* op = op_.load(std::memory_order_relaxed);
  if (seq % 2 == 1 && op != nullptr) {
    put(fd, ", in ");
    put(fd, op);
  }
  put(fd, "\n");
}

void Watchdog::report_and_end_job(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  run_abort_hooks();
  end_job(kExitCollectiveFailed);
}

void end_job(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  // Should MPI_Abort block (it is called from whatever thread failed), leave anyway.
  std::thread([code] {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    std::_Exit(code);
  }).detach();
  // MPI_Initialized and MPI_Finalized may be called from any thread; other
  // MPI calls only where the thread level allows (the monitor thread needs
  // MPI_THREAD_MULTIPLE). Without it, this rank just ends: the launcher
  // (mpirun, srun --kill-on-bad-exit) ends the others, and their watchdogs
  // would anyway.
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    if (mpi_abort_allowed_here()) MPI_Abort(MPI_COMM_WORLD, code);
    put(2,
        "lockstep: MPI_Abort is not allowed on this thread (MPI gave no "
        "MPI_THREAD_MULTIPLE): ending this rank; the launcher ends the others\n");
  }
  std::_Exit(code);
}

}  // namespace lockstep::comm
