#pragma once
// The run's timeline (log.trace = true): a Chrome-trace JSON file (trace.json
// in the run directory, loadable in Perfetto or chrome://tracing) with, per
// rank (a process in the viewer) and step, each layer's forward and backward,
// each gradient bucket's all-reduce from launch to completion, the wait for
// input, the optimizer and checkpoint writes. Only the first log.trace_steps
// steps of the run are recorded, so the file stays small.
//
// Times are the steady clock of each rank, measured from a point every rank
// passes together (a barrier), so ranks on one host line up exactly and ranks
// on other hosts to within the barrier's skew.

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.hpp"

namespace lockstep::trainer {

/// Seconds on the steady clock since its epoch.
double steady_seconds();

class Trace {
 public:
  Trace() = default;
  /// Collective (a barrier sets the common origin): records steps
  /// [first_step, first_step + max_steps) on this rank.
  Trace(comm::Communicator& comm, int64_t first_step, int64_t max_steps);

  bool enabled() const { return max_steps_ > 0; }
  /// Whether `step` (0-based global step) is recorded.
  bool records(int64_t step) const {
    return enabled() && step >= first_step_ && step < first_step_ + max_steps_;
  }
  /// Adds a span [begin, end) (steady_seconds()) on `track` (a row within the
  /// rank: 0 compute, 1 communication, 2 input, 3 steps) in category `category`.
  void span(const std::string& name, const char* category, int track, double begin, double end,
            int64_t step);
  size_t size() const { return events_.size(); }

  /// Collective: gathers every rank's events and rank 0 writes them to `path`
  /// as a Chrome-trace JSON object (temporary name, then rename).
  void write(comm::Communicator& comm, const std::string& path) const;

 private:
  struct Event {
    std::string name;
    const char* category;
    int track;
    double begin, end;
    int64_t step;
  };
  std::string rank_json() const;

  int rank_ = 0;
  int64_t first_step_ = 0, max_steps_ = 0;
  double origin_ = 0.0;
  std::vector<Event> events_;
};

/// One step's communication as backward saw it: the time finalize() waited
/// for the all-reduces after backward ended (exposed), and the share of the
/// all-reduce time (first launch to last completion) hidden behind backward.
struct CommOverlap {
  double exposed_s = 0.0;
  double comm_s = 0.0;
  double overlap = 1.0;  // 1 - exposed / comm; 1 without communication
};

}  // namespace lockstep::trainer
