// CRC32C known answers, TensorBoard event files written and read back exactly,
// corruption detected, and metrics records mapped to scalars.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "trainer/crc32c.hpp"
#include "trainer/metrics.hpp"
#include "trainer/tensorboard.hpp"

namespace lockstep::trainer {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("lockstep-tb-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

TEST(Crc32c, KnownAnswers) {
  const std::string digits = "123456789";
  EXPECT_EQ(crc32c(digits.data(), digits.size()), 0xE3069283u);
  // RFC 3720, B.4.
  const std::vector<unsigned char> zeros(32, 0x00), ones(32, 0xFF);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  std::vector<unsigned char> ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<unsigned char>(i);
    descending[i] = static_cast<unsigned char>(31 - i);
  }
  EXPECT_EQ(crc32c(ascending.data(), ascending.size()), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending.data(), descending.size()), 0x113FDB5Cu);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, ContinuesAcrossPiecesAndMasksReversibly) {
  const std::string s = "lockstep tensorboard";
  EXPECT_EQ(crc32c(s.data() + 5, s.size() - 5, crc32c(s.data(), 5)), crc32c(s.data(), s.size()));
  for (uint32_t c : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu}) {
    EXPECT_EQ(unmask_crc(mask_crc(c)), c);
    EXPECT_EQ(mask_crc(c), ((c >> 15) | (c << 17)) + 0xa282ead8u);
  }
}

std::vector<ScalarEvent> sample_scalars() {
  return {{"step/loss", 1, 2.302585f, 1700000000.25},
          {"step/lr", 1, 0.1f, 1700000000.25},
          {"epoch/test_accuracy", 300, 0.875f, 1700000123.5},
          {"negative/step", -7, -1.5e-30f, 0.0},
          {"big/step", int64_t{1} << 40, 3.0e38f, 1.0e9},
          {std::string(300, 'x'), 0, 0.0f, 42.0}};  // a tag longer than one varint byte
}

TEST(TensorBoard, ScalarsReadBackExactly) {
  TempDir dir;
  const double before = wall_time_now();
  std::string path;
  {
    EventFileWriter w(dir.str());
    path = w.path();
    for (const ScalarEvent& s : sample_scalars()) w.add_scalar(s);
    w.flush();
  }
  const std::string name = fs::path(path).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_EQ(event_files_in(dir.str()), std::vector<std::string>{path});

  const EventFile f = read_event_file(path);
  EXPECT_EQ(f.file_version, "brain.Event:2");
  EXPECT_GE(f.start_time, before - 1.0);
  EXPECT_LE(f.start_time, wall_time_now() + 1.0);
  const std::vector<ScalarEvent> want = sample_scalars();
  ASSERT_EQ(f.scalars.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(f.scalars[i].tag, want[i].tag) << i;
    EXPECT_EQ(f.scalars[i].step, want[i].step) << i;
    EXPECT_EQ(f.scalars[i].value, want[i].value) << i;  // bit for bit
    EXPECT_EQ(f.scalars[i].wall_time, want[i].wall_time) << i;
  }
}

TEST(TensorBoard, SecondWriterInTheSameSecondGetsItsOwnFile) {
  TempDir dir;
  EventFileWriter a(dir.str()), b(dir.str());
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(event_files_in(dir.str()).size(), 2u);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string error_of(const std::string& path) {
  try {
    read_event_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TensorBoard, CorruptionIsReported) {
  TempDir dir;
  std::string path;
  {
    EventFileWriter w(dir.str());
    path = w.path();
    w.add_scalar({"step/loss", 5, 0.5f, 1.0});
    w.flush();
  }
  const std::string good = read_all(path);
  // First record: 12-byte header, data, 4-byte CRC. Find where the scalar record starts.
  uint64_t first_len = 0;
  for (int i = 0; i < 8; ++i)
    first_len |= static_cast<uint64_t>(static_cast<unsigned char>(good[i])) << (8 * i);
  const size_t rec2 = 12 + first_len + 4;
  ASSERT_LT(rec2 + 16, good.size());

  struct Case {
    size_t at;
    const char* expect;
  };
  for (const Case& c : {Case{rec2 + 2, "length CRC"},          // the length
                        Case{rec2 + 9, "length CRC"},          // the length's CRC
                        Case{rec2 + 14, "data CRC"},           // the data
                        Case{good.size() - 1, "data CRC"}}) {  // the data's CRC
    std::string bad = good;
    bad[c.at] = static_cast<char>(bad[c.at] ^ 0x01);
    write_all(path, bad);
    const std::string err = error_of(path);
    EXPECT_NE(err.find(c.expect), std::string::npos) << "byte " << c.at << ": " << err;
    EXPECT_NE(err.find("record at byte " + std::to_string(rec2)), std::string::npos) << err;
    EXPECT_NE(err.find(path), std::string::npos) << err;
  }
  write_all(path, good.substr(0, good.size() - 3));
  EXPECT_NE(error_of(path).find("truncated"), std::string::npos) << error_of(path);
  write_all(path, good);
  EXPECT_EQ(error_of(path), "");
}

TEST(TensorBoard, MetricsRecordsBecomeScalars) {
  const nlohmann::json step{{"type", "step"}, {"epoch", 0},       {"step", 100}, {"loss", 0.25},
                            {"lr", 0.01},     {"grad_norm", 1.5}, {"note", "x"}, {"flag", true}};
  const std::vector<ScalarEvent> s = record_scalars(step, 7.0);
  std::map<std::string, float> got;
  for (const ScalarEvent& e : s) {
    EXPECT_EQ(e.step, 100);
    EXPECT_EQ(e.wall_time, 7.0);
    got[e.tag] = e.value;
  }
  const std::map<std::string, float> want{
      {"step/epoch", 0.0f}, {"step/loss", 0.25f}, {"step/lr", 0.01f}, {"step/grad_norm", 1.5f}};
  EXPECT_EQ(got, want);
}

TEST(TensorBoard, RecordTimeIsTheWallTimeNotAScalar) {
  const nlohmann::json best{{"type", "best"},       {"epoch", 3},   {"step", 42},
                            {"metric", "val_loss"}, {"value", 0.5}, {"time", 1.7e9 + 0.25}};
  const std::vector<ScalarEvent> s = record_scalars(best, 7.0);
  std::map<std::string, float> got;
  for (const ScalarEvent& e : s) {
    EXPECT_EQ(e.step, 42) << e.tag;  // where the best happened, not step 0
    EXPECT_EQ(e.wall_time, 1.7e9 + 0.25) << e.tag;
    got[e.tag] = e.value;
  }
  const std::map<std::string, float> want{{"best/epoch", 3.0f}, {"best/value", 0.5f}};
  EXPECT_EQ(got, want);
}

TEST(TensorBoard, MetricsFileStampsEveryRecordWithItsTime) {
  TempDir dir;
  MetricsFile m(dir.str() + "/metrics.jsonl");
  m.add_tensorboard(dir.str());
  const double before = wall_time_now();
  m.write({{"type", "step"}, {"step", 1}, {"loss", 2.0}});
  m.write({{"type", "epoch"}, {"step", 1}, {"epoch", 1}, {"time", 5.0}});  // kept as given
  const double after = wall_time_now();
  std::ifstream jsonl(dir.str() + "/metrics.jsonl");
  std::string line;
  std::vector<double> times;
  while (std::getline(jsonl, line)) times.push_back(nlohmann::json::parse(line).at("time"));
  ASSERT_EQ(times.size(), 2u);
  EXPECT_GE(times[0], before);
  EXPECT_LE(times[0], after);
  EXPECT_EQ(times[1], 5.0);
  const EventFile f = read_event_file(m.tensorboard_path());
  ASSERT_EQ(f.scalars.size(), 2u);  // step/loss and epoch/epoch: no */time
  EXPECT_EQ(f.scalars[0].wall_time, times[0]);
  EXPECT_EQ(f.scalars[1].tag, "epoch/epoch");
  EXPECT_EQ(f.scalars[1].wall_time, 5.0);
}

TEST(TensorBoard, MetricsFileWritesBothAndFlushesEachRecord) {
  TempDir dir;
  MetricsFile m(dir.str() + "/metrics.jsonl");
  m.add_tensorboard(dir.str());
  m.write({{"type", "step"}, {"step", 1}, {"loss", 2.0}});
  // Read while the file is still open: each record is flushed.
  EventFile f = read_event_file(m.tensorboard_path());
  ASSERT_EQ(f.scalars.size(), 1u);
  EXPECT_EQ(f.scalars[0].tag, "step/loss");
  m.write({{"type", "epoch"}, {"step", 3}, {"epoch", 1}, {"test_accuracy", 0.5}});
  f = read_event_file(m.tensorboard_path());
  ASSERT_EQ(f.scalars.size(), 3u);
  EXPECT_EQ(f.scalars[1].tag, "epoch/epoch");
  EXPECT_EQ(f.scalars[2].tag, "epoch/test_accuracy");
  EXPECT_EQ(f.scalars[2].step, 3);
  EXPECT_EQ(f.scalars[2].value, 0.5f);
  std::ifstream jsonl(dir.str() + "/metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(jsonl, line)) ++lines;
  EXPECT_EQ(lines, 2);
}

}  // namespace
}  // namespace lockstep::trainer
