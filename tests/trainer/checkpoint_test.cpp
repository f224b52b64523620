// Checkpoint integrity (README "Checkpoints and resume"): a writer killed at
// random moments never leaves a checkpoint that loads but is wrong;
// checkpoint.resume = auto passes over a damaged latest checkpoint to the
// previous good one, and names every file it skipped; a full disk (the file
// size limit) fails the write and leaves the previous checkpoint and `latest`.

#include "trainer/checkpoint.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/error.hpp"
#include "tests/trainer/checkpoint_writer.hpp"

extern char** environ;

namespace lockstep::trainer {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path = fs::path(testing::TempDir()) /
           (std::string("lockstep_ckpt_") + info->name() + "_" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string str() const { return path.string(); }
};

// True when `m` is exactly the checkpoint the writer wrote for its step.
testing::AssertionResult is_writer_checkpoint(const io::SavedModel& m) {
  if (!m.training) return testing::AssertionFailure() << "not a checkpoint";
  const int64_t step = m.training->step;
  const io::SavedModel expected = test::writer_checkpoint(step);
  if (m.parameters != expected.parameters)
    return testing::AssertionFailure() << "parameters of step " << step << " differ";
  if (m.training->optimizer_slabs != expected.training->optimizer_slabs)
    return testing::AssertionFailure() << "optimizer state of step " << step << " differs";
  return testing::AssertionSuccess();
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The checkpoint policy: every N steps, at the end of every N-th epoch, and
// whenever the run stops early.
TEST(Checkpoint, PolicySaysWhenACheckpointIsDue) {
  CheckpointOptions steps;
  steps.every_steps = 10;
  EXPECT_TRUE(steps.due({20, 1, 4}, false, false));
  EXPECT_FALSE(steps.due({21, 1, 5}, false, false));
  EXPECT_FALSE(steps.due({21, 2, 0}, true, false)) << "every_epochs = 0: not at epoch ends";
  CheckpointOptions epochs;
  epochs.every_epochs = 2;
  EXPECT_TRUE(epochs.due({32, 2, 0}, true, false));
  EXPECT_FALSE(epochs.due({48, 3, 0}, true, false));
  EXPECT_FALSE(epochs.due({32, 2, 0}, false, false)) << "only at the end of an epoch";
  const CheckpointOptions none;
  EXPECT_FALSE(none.due({7, 0, 7}, true, false));
  EXPECT_TRUE(none.due({7, 0, 7}, false, true)) << "a stopping run always writes one";
}

TEST(Checkpoint, KilledWriterNeverLeavesAWrongCheckpoint) {
  TempDir dir;
  std::mt19937 rng(20240501);
  std::uniform_int_distribution<int> delay_us(0, 60000);
  const int kTrials = 40;
  int64_t last_step = 0;
  int interrupted = 0;  // kills that left the writer's temporary file (a write in progress)
  for (int trial = 0; trial < kTrials; ++trial) {
    const std::string d = dir.str();
    char* args[] = {const_cast<char*>(LOCKSTEP_CHECKPOINT_WRITER), const_cast<char*>(d.c_str()),
                    nullptr};
    const fs::path ready = dir.path / "writer.ready";
    fs::remove(ready);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, args[0], nullptr, nullptr, args, environ), 0);
    // The delay counts from the writer's start-up, which takes long on a busy
    // machine (or with the CUDA libraries to load): wait for its marker.
    for (int i = 0; i < 20000 && !fs::exists(ready); ++i)
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    const std::string mine = ".tmp." + std::to_string(pid);
    if (trial % 2 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    } else {
      // Every other kill aims at a write: once this writer's temporary file
      // shows (a checkpoint or the pointer being written), within 2 ms.
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      bool writing = false;
      while (!writing && std::chrono::steady_clock::now() < give_up) {
        for (const auto& e : fs::directory_iterator(dir.path))
          writing = writing || e.path().filename().string().ends_with(mine);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng) / 30));
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "trial " << trial << ": the writer exited by itself";
    // Killed mid-write: this writer's own temporary file (ckpt-S.h5.tmp.PID or
    // latest.tmp.PID) is still there; those of earlier writers do not count
    // (each writer removes them before its first write, but may die first).
    for (const auto& e : fs::directory_iterator(dir.path)) {
      if (e.path().filename().string().ends_with(mine)) {
        ++interrupted;
        break;
      }
    }
    // Whatever `latest` names loads, verifies and is exactly a written checkpoint.
    const FoundCheckpoint found = load_latest_checkpoint(d);
    EXPECT_TRUE(found.skipped.empty()) << "trial " << trial << ": " << found.skipped.front();
    if (found.path.empty()) continue;  // killed before its first checkpoint
    EXPECT_TRUE(is_writer_checkpoint(found.model)) << "trial " << trial << ": " << found.path;
    EXPECT_GE(found.model.training->step, last_step) << "trial " << trial;
    last_step = found.model.training->step;
    // And so does every complete checkpoint file in the folder.
    for (const auto& e : fs::directory_iterator(dir.path)) {
      const std::string f = e.path().filename().string();
      if (f.rfind("ckpt-", 0) != 0 || e.path().extension() != ".h5") continue;
      EXPECT_TRUE(is_writer_checkpoint(io::load_model(e.path().string())))
          << "trial " << trial << ": " << f;
    }
  }
  EXPECT_GT(last_step, 0) << "no checkpoint was ever completed";
  // The point of the test: kills must land in the middle of writes, or it
  // checked only whole files (15-22 of 40 measured here, half of the kills
  // aimed at a write; 5-12 with random delays alone).
  EXPECT_GE(interrupted, kTrials / 8) << "too few kills landed during a write";
  std::printf("%d kills, %d during a write, %lld checkpoints completed\n", kTrials, interrupted,
              static_cast<long long>(last_step));
}

// Writes checkpoints of steps 1..n into `dir`; returns their paths.
std::vector<std::string> write_steps(const std::string& dir, int n) {
  CheckpointOptions options;
  options.dir = dir;
  options.keep = 5;
  std::vector<std::string> paths;
  for (int s = 1; s <= n; ++s)
    paths.push_back(write_checkpoint(options, test::writer_checkpoint(s)));
  return paths;
}

void damage(const std::string& path) {  // one byte in the middle of the parameters
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 4));
  f.put('\x5a');
}

TEST(Checkpoint, ResumeAutoFallsBackToThePreviousGoodCheckpoint) {
  TempDir dir;
  const auto paths = write_steps(dir.str(), 3);
  damage(paths[2]);
  const FoundCheckpoint found = load_latest_checkpoint(dir.str());
  EXPECT_EQ(found.path, paths[1]);
  EXPECT_EQ(found.model.training->step, 2);
  ASSERT_EQ(found.skipped.size(), 1u);
  EXPECT_NE(found.skipped[0].find(paths[2]), std::string::npos) << found.skipped[0];
  EXPECT_NE(found.skipped[0].find("checksum mismatch"), std::string::npos) << found.skipped[0];
  // `latest` naming a file that is gone: the newest older one.
  fs::remove(paths[2]);
  EXPECT_EQ(load_latest_checkpoint(dir.str()).path, paths[1]);
  // None loads: an error naming each.
  damage(paths[1]);
  damage(paths[0]);
  const std::string message = message_of([&] { load_latest_checkpoint(dir.str()); });
  for (const auto& p : paths) EXPECT_NE(message.find(p), std::string::npos) << message;
  EXPECT_NE(message.find("no checkpoint"), std::string::npos) << message;
  // An empty folder: a fresh start.
  TempDir empty;
  EXPECT_EQ(load_latest_checkpoint(empty.str()).path, "");
}

TEST(Checkpoint, FullDiskLeavesThePreviousCheckpointAndLatest) {
  TempDir dir;
  const auto paths = write_steps(dir.str(), 1);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit limited = old;
  limited.rlim_cur = 512 * 1024;  // a checkpoint needs 2 MB
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  CheckpointOptions options;
  options.dir = dir.str();
  const std::string message =
      message_of([&] { write_checkpoint(options, test::writer_checkpoint(2)); });
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
  std::printf("%s\n", message.c_str());
  EXPECT_NE(message.find("ckpt-0000000002.h5"), std::string::npos) << message;
  EXPECT_NE(message.find("the disk is full or the file size limit"), std::string::npos) << message;
  const FoundCheckpoint found = load_latest_checkpoint(dir.str());
  EXPECT_EQ(found.path, paths[0]);
  EXPECT_TRUE(found.skipped.empty());
  EXPECT_TRUE(is_writer_checkpoint(found.model));
  EXPECT_FALSE(fs::exists(dir.path / "ckpt-0000000002.h5"));
}

}  // namespace
}  // namespace lockstep::trainer
