#include "comm/inflight.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

#include "core/error.hpp"

namespace lockstep::comm {

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

InflightCollectives::InflightCollectives(Watchdog* watchdog, AsyncError async_error,
                                         std::function<void()> abort,
                                         std::function<void()> monitor_init,
                                         std::chrono::milliseconds linger)
    : watchdog_(watchdog),
      async_error_(std::move(async_error)),
      abort_(std::move(abort)),
      monitor_init_(std::move(monitor_init)),
      linger_(linger) {
  if (watchdog_ != nullptr && watchdog_->timeout_s() > 0)
    monitor_ = std::thread([this] { monitor(); });
}

InflightCollectives::~InflightCollectives() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

void InflightCollectives::add(const char* op, Done done) {
  std::lock_guard<std::mutex> lock(mutex_);
  retire_locked();
  queue_.push_back({op, std::move(done), now_ns()});
}

size_t InflightCollectives::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

bool InflightCollectives::aborted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return aborted_;
}

void InflightCollectives::retire_locked() {
  while (!queue_.empty() && queue_.front().done()) queue_.pop_front();
}

void InflightCollectives::abort_locked() {
  if (aborted_) return;
  aborted_ = true;
  abort_();
}

void InflightCollectives::check() {
  std::string error;
  const char* op = "collective";
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (watchdog_ != nullptr && watchdog_->aborting()) {
      abort_locked();  // the job is ending (the watchdog's monitor, or ours): the handle is ours
    } else {
      if (aborted_) throw Error("collective: used after its communicator was aborted");
      retire_locked();
      if (queue_.empty()) return;
      error = async_error_();
      if (error.empty()) return;
      op = queue_.front().op;
      abort_locked();
    }
  }
  if (error.empty()) {  // aborting: wait for the job to end, as wait_polling does
    const auto until = std::chrono::steady_clock::now() + linger_;
    while (std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    throw Error("collective: aborted by the watchdog, but the job did not end");
  }
  if (watchdog_ != nullptr) {
    const Watchdog::Scope scope(watchdog_, op);  // names the operation in the report
    watchdog_->fail(error);                      // by default ends the job
  }
  throw Error(std::string(op) + " failed: " + error);
}

void InflightCollectives::monitor() {
  if (monitor_init_) monitor_init_();
  const double timeout = watchdog_->timeout_s();
  const auto period = std::chrono::duration<double>(std::min(1.0, std::max(0.01, timeout / 10)));
  const auto limit_ns = static_cast<int64_t>(timeout * 1e9);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_cv_.wait_for(lock, period, [this] { return stop_; })) {
    if (aborted_ || reported_ || watchdog_->aborting()) continue;
    retire_locked();
    if (queue_.empty()) continue;
    const Entry& e = queue_.front();
    std::string what;
    const std::string error = async_error_();
    if (!error.empty()) {
      what = std::string(e.op) + " failed on the device: " + error;
    } else if (now_ns() - e.since_ns >= limit_ns) {
      char limit[32];
      std::snprintf(limit, sizeof limit, "%g", timeout);
      what = std::string(e.op) + " did not complete on the device within " + limit +
             " s (a rank stopped participating or the network failed)";
    }
    if (what.empty()) continue;
    reported_ = true;
    lock.unlock();
    // Signal the owner first (it aborts its handle on its own thread), then
    // report through the watchdog's handler (by default: the end of the job).
    watchdog_->run_abort_hooks();
    try {
      watchdog_->fail(what);
    } catch (const std::exception&) {  // a test's handler returned
    }
    lock.lock();
  }
}

}  // namespace lockstep::comm
