// Collectives in flight on a device (comm/inflight.hpp), with fake probes: the
// owner retires completed ones without blocking; an asynchronous error or the
// watchdog's signal makes the owner's thread abort the handle exactly once;
// the monitor reports a collective that outlives the timeout (or an error)
// once, and never aborts the handle itself.

#include "comm/inflight.hpp"

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

struct Fake {
  std::atomic<bool> done{false};
  std::atomic<int> aborts{0};
  std::thread::id abort_thread;
  std::mutex mutex;
  std::string error;  // the "library's" asynchronous error
  std::vector<std::string> reports;

  InflightCollectives::AsyncError async_error() {
    return [this] {
      std::lock_guard<std::mutex> lock(mutex);
      return error;
    };
  }
  std::function<void()> abort() {
    return [this] {
      abort_thread = std::this_thread::get_id();
      ++aborts;
    };
  }
  Watchdog::Handler handler() {
    return [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mutex);
      reports.push_back(m);
    };
  }
  void set_error(const std::string& e) {
    std::lock_guard<std::mutex> lock(mutex);
    error = e;
  }
  size_t num_reports() {
    std::lock_guard<std::mutex> lock(mutex);
    return reports.size();
  }
};

TEST(Inflight, RetiresCompletedCollectivesWithoutBlocking) {
  Fake f;
  InflightCollectives in(nullptr, f.async_error(), f.abort());
  std::atomic<bool> first{false}, second{false};
  in.add("allreduce", [&] { return first.load(); });
  in.add("allreduce", [&] { return second.load(); });
  const auto t0 = std::chrono::steady_clock::now();
  in.check();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
  EXPECT_EQ(in.pending(), 2u);
  second = true;  // retired oldest first: still behind the first
  in.check();
  EXPECT_EQ(in.pending(), 2u);
  first = true;
  in.check();
  EXPECT_EQ(in.pending(), 0u);
  EXPECT_EQ(f.aborts, 0);
}

TEST(Inflight, AsyncErrorAbortsOnceOnTheOwnersThread) {
  Fake f;
  InflightCollectives in(nullptr, f.async_error(), f.abort());
  in.add("allreduce", [] { return false; });
  f.set_error("remote process exited");
  try {
    in.check();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("allreduce failed: remote process exited"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(f.aborts, 1);
  EXPECT_EQ(f.abort_thread, std::this_thread::get_id());
  EXPECT_TRUE(in.aborted());
  EXPECT_THROW(in.check(), Error);  // not usable any more, and not aborted again
  EXPECT_EQ(f.aborts, 1);
}

TEST(Inflight, AsyncErrorIsReportedThroughTheWatchdog) {
  Fake f;
  Watchdog w(2, 0.0, f.handler());  // no timeout: no monitor threads
  InflightCollectives in(&w, f.async_error(), f.abort());
  in.add("broadcast", [] { return false; });
  f.set_error("unhandled system error");
  EXPECT_THROW(in.check(), Error);  // a test handler returns: Watchdog::fail throws
  ASSERT_EQ(f.num_reports(), 1u);
  EXPECT_NE(f.reports[0].find("rank 2: broadcast failed"), std::string::npos) << f.reports[0];
  EXPECT_NE(f.reports[0].find("unhandled system error"), std::string::npos) << f.reports[0];
  EXPECT_EQ(f.aborts, 1);
}

TEST(Inflight, MonitorReportsAHungCollectiveOnceAndTheOwnerAborts) {
  Fake f;
  Watchdog w(1, 0.05, f.handler());
  InflightCollectives in(&w, f.async_error(), f.abort(), {}, 50ms);
  in.add("allreduce (statistics)", [] { return false; });  // never completes
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (f.num_reports() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(100ms);  // it would have reported twice by now
  ASSERT_EQ(f.num_reports(), 1u);
  EXPECT_NE(f.reports[0].find("rank 1: a collective failed at step 0: allreduce (statistics) did "
                              "not complete on the device within 0.05 s"),
            std::string::npos)
      << f.reports[0];
  EXPECT_TRUE(w.aborting());
  EXPECT_EQ(f.aborts, 0);  // the monitor only signals
  EXPECT_THROW(in.check(), Error);  // the owner sees the signal: aborts, lingers, gives up
  EXPECT_EQ(f.aborts, 1);
  EXPECT_EQ(f.abort_thread, std::this_thread::get_id());
}

TEST(Inflight, MonitorReportsAnAsyncErrorWhileTheOwnerIsBusy) {
  Fake f;
  Watchdog w(0, 1.0, f.handler());
  InflightCollectives in(&w, f.async_error(), f.abort(), {}, 50ms);
  in.add("allreduce", [] { return false; });
  f.set_error("remote process exited");
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (f.num_reports() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(f.num_reports(), 1u);
  EXPECT_NE(f.reports[0].find("allreduce failed on the device: remote process exited"),
            std::string::npos)
      << f.reports[0];
  EXPECT_EQ(f.aborts, 0);
}

TEST(Inflight, MonitorStaysQuietWhileCollectivesComplete) {
  Fake f;
  Watchdog w(0, 0.05, f.handler());
  InflightCollectives in(&w, f.async_error(), f.abort());
  for (int i = 0; i < 20; ++i) {
    std::atomic<bool> done{false};
    in.add("allreduce", [&] { return done.load(); });
    std::this_thread::sleep_for(5ms);
    done = true;
    in.check();
    EXPECT_EQ(in.pending(), 0u);
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(f.num_reports(), 0u);
  EXPECT_EQ(f.aborts, 0);
}

}  // namespace
}  // namespace lockstep::comm
