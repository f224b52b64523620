// Ownership on the abort path (comm/abortable.hpp, "Note: ownership on the
// abort path" in comm/watchdog.hpp), with a fake communicator handle: the
// owner's thread releases it exactly once (abort on a failure or when the
// watchdog signals, else destroy), the watchdog only signals, and an abort
// hook never runs after remove_abort_hook returned.

#include "comm/abortable.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"

namespace lockstep::comm {
namespace {

using namespace std::chrono_literals;

struct FakeComm {
  std::atomic<int> aborts{0}, destroys{0};
  std::thread::id abort_thread;
};
void fake_abort(FakeComm* c) {
  c->abort_thread = std::this_thread::get_id();
  ++c->aborts;
}
void fake_destroy(FakeComm* c) {
  ++c->destroys;
}

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

TEST(AbortableHandle, DestroyedOnceWhenNeverAborted) {
  FakeComm c;
  { AbortableHandle<FakeComm*> h(&c, fake_abort, fake_destroy); }
  EXPECT_EQ(c.aborts, 0);
  EXPECT_EQ(c.destroys, 1);
}

TEST(AbortableHandle, AbortedOnceAndThenNotDestroyed) {
  FakeComm c;
  {
    AbortableHandle<FakeComm*> h(&c, fake_abort, fake_destroy);
    h.abort();
    h.abort();
    EXPECT_TRUE(h.aborted());
  }
  EXPECT_EQ(c.aborts, 1);
  EXPECT_EQ(c.destroys, 0);
}

TEST(AbortableHandle, AnEmptyHandleReleasesNothing) {
  AbortableHandle<FakeComm*> h;
  h.abort();
  EXPECT_FALSE(h.aborted());
}

TEST(WaitPolling, ReturnsWhenDoneAndTheOwnerDestroysOnce) {
  FakeComm c;
  Watchdog w(0, 5, Recorder{}.handler());
  {
    AbortableHandle<FakeComm*> h(&c, fake_abort, fake_destroy);
    int polls = 0;
    wait_polling(
        &w, "allreduce",
        [&] {
          return PollResult{++polls == 20, ""};
        },
        [&] { h.abort(); });
    EXPECT_EQ(polls, 20);
  }
  EXPECT_EQ(c.aborts, 0);
  EXPECT_EQ(c.destroys, 1);
  EXPECT_FALSE(w.aborting());
}

// The monitor thread's timeout only signals; the thread that waits (the
// owner) aborts the handle, once, and its destructor does not destroy it.
TEST(WaitPolling, AWatchdogTimeoutMakesTheOwnerAbortOnce) {
  FakeComm c;
  Recorder rec;
  Watchdog w(1, 0.1, rec.handler());
  w.set_step(7);
  std::atomic<bool> hook_ran{false};
  w.add_abort_hook([&] { hook_ran = true; });
  {
    AbortableHandle<FakeComm*> h(&c, fake_abort, fake_destroy);
    EXPECT_THROW(wait_polling(
                     &w, "allreduce", [] { return PollResult{}; }, [&] { h.abort(); }, 200ms),
                 Error);
    EXPECT_TRUE(h.aborted());
  }
  EXPECT_TRUE(w.aborting());
  EXPECT_TRUE(hook_ran);
  EXPECT_EQ(c.aborts, 1);
  EXPECT_EQ(c.abort_thread, std::this_thread::get_id());  // the owner's, not the monitor's
  EXPECT_EQ(c.destroys, 0);
  const auto m = rec.get();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0],
            "lockstep: rank 1: allreduce did not complete within 0.1 s at step 7: a rank stopped "
            "participating or the network failed; aborting");
}

TEST(WaitPolling, AReportedErrorAbortsOnceAndNamesTheOperation) {
  FakeComm c;
  Recorder rec;
  Watchdog w(3, 0, rec.handler());
  w.set_step(2);
  {
    AbortableHandle<FakeComm*> h(&c, fake_abort, fake_destroy);
    int polls = 0;
    EXPECT_THROW(wait_polling(
                     &w, "broadcast",
                     [&] {
                       return PollResult{false, ++polls < 5 ? "" : "NCCL reports 'remote'"};
                     },
                     [&] { h.abort(); }),
                 Error);
  }
  EXPECT_EQ(c.aborts, 1);
  EXPECT_EQ(c.destroys, 0);
  const auto m = rec.get();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], "lockstep: rank 3: broadcast failed at step 2: NCCL reports 'remote'; aborting");
}

TEST(WaitPolling, WithoutAWatchdogAnErrorThrowsAfterTheAbort) {
  FakeComm c;
  {
    AbortableHandle<FakeComm*> h(&c, fake_abort, fake_destroy);
    try {
      wait_polling(
          nullptr, "allreduce",
          [] {
            return PollResult{false, "boom"};
          },
          [&] { h.abort(); });
      FAIL() << "expected an Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("allreduce failed: boom"), std::string::npos);
    }
  }
  EXPECT_EQ(c.aborts, 1);
  EXPECT_EQ(c.destroys, 0);
}

// remove_abort_hook waits for a hook that is running, so the hook never
// touches its owner's state after the owner removed it (and went away).
TEST(WatchdogHooks, RemoveWaitsForARunningHookAndHooksRunOnce) {
  Watchdog w(0, 0);
  std::atomic<bool> started{false}, finished{false};
  std::atomic<int> runs{0};
  const int id = w.add_abort_hook([&] {
    ++runs;
    started = true;
    std::this_thread::sleep_for(200ms);
    finished = true;
  });
  std::thread signaller([&] { w.run_abort_hooks(); });
  while (!started) std::this_thread::sleep_for(1ms);
  w.remove_abort_hook(id);
  EXPECT_TRUE(finished);
  signaller.join();
  w.run_abort_hooks();
  EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace lockstep::comm
