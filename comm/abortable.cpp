#include "comm/abortable.hpp"

#include <thread>

#include "core/error.hpp"

namespace lockstep::comm {

void wait_polling(Watchdog* watchdog, const char* op, const std::function<PollResult()>& poll,
                  const std::function<void()>& abort, std::chrono::milliseconds linger) {
  using clock = std::chrono::steady_clock;
  const Watchdog::Scope scope(watchdog, op);
  const auto t0 = clock::now();
  for (;;) {
    if (watchdog != nullptr && watchdog->aborting()) {
      // The watchdog ends the job (its monitor thread); the handle is ours to abort.
      abort();
      const auto until = clock::now() + linger;
      while (clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      throw Error(std::string(op) + ": aborted by the watchdog, but the job did not end");
    }
    const PollResult r = poll();
    if (r.done) return;
    if (!r.error.empty()) {
      abort();
      if (watchdog != nullptr) watchdog->fail(r.error);  // reports; by default ends the job
      throw Error(std::string(op) + " failed: " + r.error);
    }
    // Spin briefly (short collectives), then poll every 50 us.
    if (clock::now() - t0 < std::chrono::milliseconds(1)) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

}  // namespace lockstep::comm
