#pragma once
// What the benchmark programs share: the median of timings, the per-layer
// breakdown (--breakdown), and the main of an MPI benchmark (flags, usage, one
// error line per failing rank, no rank left waiting).

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "comm/mpi.hpp"
#include "core/device.hpp"
#include "core/layers/layer.hpp"
#include "core/model.hpp"

namespace lockstep::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct LayerTime {
  std::string spec;
  double fwd_ms = 0.0, bwd_ms = 0.0;  // per call
};

/// Each layer's forward and backward alone, on its real input (the model's
/// forward of x): `warmup` untimed calls, then `steps` timed calls of each.
/// time_ms(run) returns the milliseconds run() took (CPU clock, or CUDA
/// events on the GPU).
template <class TimeMs>
std::vector<LayerTime> layer_breakdown(Model& model, const Tensor& x, uint64_t seed, int64_t steps,
                                       int64_t warmup, TimeMs time_ms) {
  const size_t n = model.num_layers();
  const RunContext ctx(Mode::kTrain, seed);
  std::vector<Saved> saved(n);
  std::vector<Tensor> in(n), dy(n);
  Tensor h = x;
  for (size_t i = 0; i < n; ++i) {
    in[i] = h;
    h = model.layer(i).forward(h, ctx, i, saved[i]);
    dy[i] = Tensor::empty(h.shape(), h.dtype(), h.device());  // own buffer: no aliasing
    dy[i].copy_from(h);
  }
  device::synchronize();
  std::vector<LayerTime> times;
  const double calls = static_cast<double>(steps);
  for (size_t i = 0; i < n; ++i) {
    Layer& layer = model.layer(i);
    const bool need_dx = i > 0;
    for (int64_t s = 0; s < warmup; ++s) {
      layer.forward(in[i], ctx, i, saved[i]);
      layer.backward(saved[i], dy[i], need_dx);
    }
    model.zero_grad();  // the backwards accumulate into the gradient slab
    LayerTime t{layer.spec()};
    t.fwd_ms = time_ms([&] {
                 for (int64_t s = 0; s < steps; ++s) layer.forward(in[i], ctx, i, saved[i]);
               }) /
               calls;
    t.bwd_ms = time_ms([&] {
                 for (int64_t s = 0; s < steps; ++s) layer.backward(saved[i], dy[i], need_dx);
               }) /
               calls;
    times.push_back(std::move(t));
  }
  model.zero_grad();
  return times;
}

/// Prints "<name> layer i=... fwd_ms=... bwd_ms=... spec=..." lines and
/// "<name> layers total fwd_ms=... bwd_ms=... sum_ms=... <tail>".
inline void print_breakdown(const char* name, const std::vector<LayerTime>& times,
                            const std::string& tail) {
  double fwd = 0.0, bwd = 0.0;
  for (size_t i = 0; i < times.size(); ++i) {
    std::printf("%s layer i=%zu fwd_ms=%.4f bwd_ms=%.4f spec=\"%s\"\n", name, i, times[i].fwd_ms,
                times[i].bwd_ms, times[i].spec.c_str());
    fwd += times[i].fwd_ms;
    bwd += times[i].bwd_ms;
  }
  std::printf("%s layers total fwd_ms=%.4f bwd_ms=%.4f sum_ms=%.4f %s\n", name, fwd, bwd, fwd + bwd,
              tail.c_str());
  std::fflush(stdout);
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
