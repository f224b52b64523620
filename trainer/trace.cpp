#include "trainer/trace.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace lockstep::trainer {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Trace::Trace(comm::Communicator& comm, int64_t first_step, int64_t max_steps)
    : rank_(comm.rank()), first_step_(first_step), max_steps_(max_steps) {
  if (max_steps_ <= 0) return;
  comm.barrier();
  origin_ = steady_seconds();
}

void Trace::span(const std::string& name, const char* category, int track, double begin,
                 double end, int64_t step) {
  if (!enabled()) return;
  events_.push_back({name, category, track, begin, end, step});
}

std::string Trace::rank_json() const {
  static const char* const kTracks[] = {"compute", "communication", "input", "steps"};
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "process_name"},
                    {"ph", "M"},
                    {"pid", rank_},
                    {"args", {{"name", "rank " + std::to_string(rank_)}}}});
  events.push_back(
      {{"name", "process_sort_index"}, {"ph", "M"}, {"pid", rank_}, {"args", {{"sort_index", rank_}}}});
  for (int t = 0; t < 4; ++t)
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", rank_},
                      {"tid", t},
                      {"args", {{"name", kTracks[t]}}}});
  for (const Event& e : events_)
    events.push_back({{"name", e.name},
                      {"cat", e.category},
                      {"ph", "X"},
                      {"pid", rank_},
                      {"tid", e.track},
                      {"ts", (e.begin - origin_) * 1e6},
                      {"dur", std::max(0.0, e.end - e.begin) * 1e6},
                      {"args", {{"step", e.step}}}});
  return events.dump();
}

void Trace::write(comm::Communicator& comm, const std::string& path) const {
  // Every rank's events to rank 0: the lengths, then each rank's text in turn.
  const std::string mine = rank_json();
  std::vector<uint64_t> lengths(static_cast<size_t>(comm.size()));
  const uint64_t n = mine.size();
  comm.allgather(std::span<const uint64_t>(&n, 1), std::span<uint64_t>(lengths));
  nlohmann::json all = nlohmann::json::array();
  for (int r = 0; r < comm.size(); ++r) {
    std::string text = r == comm.rank() ? mine : std::string(lengths[static_cast<size_t>(r)], ' ');
    if (r != 0) {  // rank 0 already has its own
      comm.broadcast(std::span<uint8_t>(reinterpret_cast<uint8_t*>(text.data()), text.size()), r);
    }
    if (comm.rank() == 0)
      for (auto& e : nlohmann::json::parse(text)) all.push_back(std::move(e));
  }
  if (comm.rank() != 0) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << nlohmann::json{{"traceEvents", std::move(all)}, {"displayTimeUnit", "ms"}}.dump();
    out.flush();
    if (!out) throw Error("trace file '" + tmp + "': write failed");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace lockstep::trainer
