#pragma once
// Metrics for people and for tools: the JSONL metrics file of a run directory
// and the progress display of rank 0 (a bar on a TTY, otherwise a line every N
// steps).

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace lockstep::trainer {

/// Appends one JSON object per line; flushed after every record so a killed
/// run keeps what it logged.
class MetricsFile {
 public:
  MetricsFile() = default;
  explicit MetricsFile(const std::string& path);
  bool is_open() const { return out_.is_open(); }
  void write(const nlohmann::json& record);

 private:
  std::ofstream out_;
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
