#pragma once
// Metrics for people and for tools: the JSONL metrics file of a run directory
// and the progress display of rank 0 (a bar on a TTY, otherwise a line every N
// steps).

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/tensorboard.hpp"

namespace lockstep::trainer {

/// The TensorBoard scalars of a metrics record: every numeric field but
/// "step" and "time" becomes "<type>/<field>" (e.g. "epoch/test_accuracy") at
/// the record's "step" (0 when it has none), with the record's "time" as wall
/// time (`wall_time` when it has none).
std::vector<ScalarEvent> record_scalars(const nlohmann::json& record, double wall_time);

/// Appends one JSON object per line; flushed after every record so a killed
/// run keeps what it logged. Each record gets "time" (Unix seconds, when it
/// was written) unless it has one. With add_tensorboard, every record also
/// goes to a TensorBoard event file as scalars (record_scalars), flushed
/// likewise.
class MetricsFile {
 public:
  MetricsFile() = default;
  explicit MetricsFile(const std::string& path);
  bool is_open() const { return out_.is_open(); }
  /// Starts a new event file in `dir` for the records written from now on.
  void add_tensorboard(const std::string& dir);
  /// The event file's path; empty without add_tensorboard.
  std::string tensorboard_path() const { return events_ ? events_->path() : ""; }
  void write(nlohmann::json record);

 private:
  std::ofstream out_;
  std::unique_ptr<EventFileWriter> events_;
};

/// Progress of one epoch on rank 0.
class Progress {
 public:
  enum class Style { kNone, kBar, kLines };
  Progress(Style style, int64_t log_every) : style_(style), log_every_(log_every) {}

  void start_epoch(int64_t epoch, int64_t epochs, int64_t steps);
  /// After step s (0-based) of the epoch; loss is the running mean of the epoch.
  void update(int64_t step, double running_loss, double samples_per_s);
  void end_epoch();

  /// "auto": a bar when stdout is a terminal, lines otherwise (and under
  /// mpirun, whose output forwarding makes every rank's stdout look like a
  /// terminal); "bar", "lines", "off" force a style.
  static Style parse(const std::string& mode);

 private:
  Style style_;
  int64_t log_every_;
  int64_t epoch_ = 0, epochs_ = 0, steps_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace lockstep::trainer
