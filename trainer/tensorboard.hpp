#pragma once
// TensorBoard event files (scalars only), written without a protobuf
// dependency: TFRecord framing (uint64 length, masked CRC32C of the length,
// data, masked CRC32C of the data) around hand-encoded `Event` messages of
// tensorflow/core/util/event.proto and framework/summary.proto:
//   Event   { double wall_time = 1; int64 step = 2;
//             oneof what { string file_version = 3; Summary summary = 5; } }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; oneof value { float simple_value = 2; } }
// and a reader for them that checks every CRC (tests, tools).

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace lockstep::trainer {

/// Seconds since the Unix epoch, as TensorBoard's wall_time.
double wall_time_now();

struct ScalarEvent {
  std::string tag;
  int64_t step = 0;
  float value = 0.0f;
  double wall_time = 0.0;
};

/// Writes `events.out.tfevents.<unix time>.<hostname>` in a folder: first the
/// file_version event ("brain.Event:2"), then one event per scalar.
class EventFileWriter {
 public:
  /// Creates the file in `dir` (which must exist); never overwrites one.
  explicit EventFileWriter(const std::string& dir);
  const std::string& path() const { return path_; }
  void add_scalar(const ScalarEvent& scalar);
  /// Pushes what was added to the file (call after each batch of scalars).
  void flush();

 private:
  void write_record(const std::string& data);
  std::string path_;
  std::ofstream out_;
};

struct EventFile {
  std::string file_version;  // of the first event
  double start_time = 0.0;   // its wall_time
  std::vector<ScalarEvent> scalars;
};

/// Reads an event file, checking the framing and both CRCs of every record;
/// throws an Error naming the file, the byte offset and what was expected.
/// Events other than file_version and simple_value scalars are skipped.
EventFile read_event_file(const std::string& path);

/// The event files (names containing "tfevents") in a folder, sorted by name.
std::vector<std::string> event_files_in(const std::string& dir);

}  // namespace lockstep::trainer
