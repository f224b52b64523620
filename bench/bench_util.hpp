#pragma once
// What the benchmark programs share: the median of timings, and the main of an
// MPI benchmark (flags, usage, one error line per failing rank, no rank left
// waiting).

#include <algorithm>
#include <cstdio>
#include <exception>
#include <vector>

#include "comm/mpi.hpp"

namespace lockstep::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// parse(argc, argv, flags) -> bool; run(flags, mpi, comm) -> exit code.
template <class Flags, class Parse, class Run>
int mpi_main(int argc, char** argv, const char* name, const char* usage, Parse parse, Run run) {
  comm::MpiSession mpi(&argc, &argv);
  Flags flags;
  if (!parse(argc, argv, flags)) {
    if (mpi.world_rank() == 0) std::fputs(usage, stderr);
    return 2;
  }
  try {
    comm::MpiCommunicator comm;
    return run(flags, mpi, comm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error on rank %d: %s\n", name, mpi.world_rank(), e.what());
    std::fflush(stderr);
    if (mpi.world_size() > 1) comm::MpiSession::abort(1);
    return 1;
  }
}

}  // namespace lockstep::bench
