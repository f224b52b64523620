#include "trainer/metrics.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/error.hpp"

namespace lockstep::trainer {

MetricsFile::MetricsFile(const std::string& path) : out_(path, std::ios::app) {
  LOCKSTEP_CHECK(out_.is_open(), "metrics file '" << path << "': cannot open for writing");
}

std::vector<ScalarEvent> record_scalars(const nlohmann::json& record, double wall_time) {
  const auto type = record.find("type");
  const std::string prefix =
      (type != record.end() && type->is_string() ? type->get<std::string>() : "metrics") + "/";
  const auto step = record.find("step");
  const int64_t at = step != record.end() && step->is_number() ? step->get<int64_t>() : 0;
  const auto time = record.find("time");
  const double when = time != record.end() && time->is_number() ? time->get<double>() : wall_time;
  std::vector<ScalarEvent> scalars;
  for (const auto& [key, value] : record.items())
    if (value.is_number() && key != "step" && key != "time")
      scalars.push_back({prefix + key, at, value.get<float>(), when});
  return scalars;
}

void MetricsFile::add_tensorboard(const std::string& dir) {
  events_ = std::make_unique<EventFileWriter>(dir);
}

void MetricsFile::write(nlohmann::json record) {
  if (!out_.is_open()) return;
  if (!record.contains("time")) record["time"] = wall_time_now();
  out_ << record.dump() << '\n';
  out_.flush();
  if (!events_) return;
  for (const ScalarEvent& s : record_scalars(record, wall_time_now())) events_->add_scalar(s);
  events_->flush();
}

Progress::Style Progress::parse(const std::string& mode) {
  if (mode == "off") return Style::kNone;
  if (mode == "bar") return Style::kBar;
  if (mode == "lines") return Style::kLines;
  LOCKSTEP_CHECK(mode == "auto",
                 "log.progress: expected auto, bar, lines or off, got '" << mode << "'");
  return isatty(STDOUT_FILENO) ? Style::kBar : Style::kLines;
}

void Progress::start_epoch(int64_t epoch, int64_t epochs, int64_t steps) {
  epoch_ = epoch;
  epochs_ = epochs;
  steps_ = steps;
  start_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t step, double running_loss, double samples_per_s) {
  if (style_ == Style::kNone) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = step + 1 < steps_ ? elapsed / static_cast<double>(step + 1) *
                                             static_cast<double>(steps_ - step - 1)
                                       : 0.0;
  if (style_ == Style::kBar) {
    const auto now = std::chrono::steady_clock::now();
    if (step + 1 < steps_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * (step + 1) / std::max<int64_t>(1, steps_));
    std::printf("\repoch %lld/%lld [%.*s%*s] %lld/%lld loss %.4f  %.0f samples/s  ETA %.0fs ",
                static_cast<long long>(epoch_ + 1), static_cast<long long>(epochs_), filled,
                "##############################", kWidth - filled, "",
                static_cast<long long>(step + 1), static_cast<long long>(steps_), running_loss,
                samples_per_s, eta);
    std::fflush(stdout);
  } else if ((step + 1) % log_every_ == 0 || step + 1 == steps_) {
    std::printf("epoch %lld/%lld step %lld/%lld loss %.4f %.0f samples/s ETA %.0fs\n",
                static_cast<long long>(epoch_ + 1), static_cast<long long>(epochs_),
                static_cast<long long>(step + 1), static_cast<long long>(steps_), running_loss,
                samples_per_s, eta);
    std::fflush(stdout);
  }
}

void Progress::end_epoch() {
  if (style_ == Style::kBar) std::printf("\n");
}

}  // namespace lockstep::trainer
