// The collective watchdog (comm/watchdog.hpp), in one process: a scope that
// lasts longer than the timeout is reported once with its operation and the
// step; a scope that ends in time is not; fail() names the operation.

#include "comm/watchdog.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"

namespace lockstep::comm {
namespace {

using namespace std::chrono_literals;

struct Recorder {
  std::mutex mutex;
  std::vector<std::string> messages;
  Watchdog::Handler handler() {
    return [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mutex);
      messages.push_back(m);
    };
  }
  std::vector<std::string> get() {
    std::lock_guard<std::mutex> lock(mutex);
    return messages;
  }
};

TEST(Watchdog, FiresOnceAfterTheTimeoutNamingOperationAndStep) {
  Recorder rec;
  Watchdog w(2, 0.2, rec.handler());
  w.set_step(12);
  const auto t0 = std::chrono::steady_clock::now();
  {
    Watchdog::Scope s(&w, "allreduce", "gradient bucket", 2, 3);
    while (rec.get().empty() && std::chrono::steady_clock::now() - t0 < 5s)
      std::this_thread::sleep_for(5ms);
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(waited, 0.2);
    EXPECT_LT(waited, 1.0);
    std::this_thread::sleep_for(300ms);  // still stuck: reported only once
  }
  const auto m = rec.get();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0],
            "lockstep: rank 2: allreduce (gradient bucket 2 of 3) did not complete within 0.2 s at "
            "step 12: a rank stopped participating or the network failed; aborting");
}

TEST(Watchdog, DoesNotFireForCollectivesThatComplete) {
  Recorder rec;
  Watchdog w(0, 0.2, rec.handler());
  for (int step = 0; step < 40; ++step) {  // 0.4 s of short collectives
    w.set_step(step);
    Watchdog::Scope s(&w, "allreduce");
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(400ms);  // idle, outside any collective
  EXPECT_TRUE(rec.get().empty());
}

TEST(Watchdog, NestedScopesKeepTheOuterDescription) {
  Watchdog w(0, 0);  // no monitor thread
  EXPECT_EQ(w.current_operation(), "");
  {
    Watchdog::Scope outer(&w, "allreduce", "gradient bucket", 1, 4);
    Watchdog::Scope inner(&w, "allreduce");
    EXPECT_EQ(w.current_operation(), "allreduce (gradient bucket 1 of 4)");
  }
  EXPECT_EQ(w.current_operation(), "");
  {
    Watchdog::Scope s(&w, "barrier");
    EXPECT_EQ(w.current_operation(), "barrier");
  }
  Watchdog::Scope none(nullptr, "barrier");  // no watchdog: a no-op
}

TEST(Watchdog, FailNamesOperationAndStepAndRunsNoHooksWithATestHandler) {
  Recorder rec;
  Watchdog w(1, 0, rec.handler());
  bool hook_ran = false;
  const int id = w.add_abort_hook([&] { hook_ran = true; });
  w.set_step(5);
  {
    Watchdog::Scope s(&w, "broadcast");
    EXPECT_THROW(w.fail("NCCL reports 'remote process exited'"), Error);
  }
  const auto m = rec.get();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0],
            "lockstep: rank 1: broadcast failed at step 5: NCCL reports 'remote process exited'; "
            "aborting");
  EXPECT_FALSE(hook_ran);
  w.run_abort_hooks();
  EXPECT_TRUE(hook_ran);
  EXPECT_TRUE(w.aborting());
  hook_ran = false;
  w.remove_abort_hook(id);
  w.run_abort_hooks();
  EXPECT_FALSE(hook_ran);
}

TEST(Watchdog, WritePositionIsPlainText) {
  Watchdog w(3, 0);
  w.set_step(1234567);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    Watchdog::Scope s(&w, "allgather");
    w.write_position(fds[1]);
  }
  close(fds[1]);
  char buf[128] = {};
  const ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  ASSERT_GT(n, 0);
  EXPECT_STREQ(buf, "lockstep: rank 3 at step 1234567, in allgather\n");
}

TEST(Watchdog, RejectsANegativeTimeout) {
  EXPECT_THROW(Watchdog(0, -1), Error);
}

}  // namespace
}  // namespace lockstep::comm
