#pragma once
// What the benchmark programs share: the median of timings, the per-layer
// breakdown (--breakdown), and the main of an MPI benchmark (flags, usage, one
// error line per failing rank, no rank left waiting).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "comm/mpi.hpp"
#include "core/device.hpp"
#include "core/layers/layer.hpp"
#include "core/model.hpp"
#include "core/rng.hpp"

namespace lockstep::bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// The flags every step benchmark takes (B1, B2, B3); each program derives
/// its own flags from this and sets its defaults.
struct StepFlags {
  int64_t steps = 50;
  int64_t warmup = 10;
  int64_t batch = 0;  // per rank; 0: the benchmark's default
  uint64_t seed = 1234;
  bool breakdown = false;
};

/// Parses --steps N, --warmup N, --batch N, --seed N and --breakdown into `f`,
/// and hands every other "--name value" to other(name, value), which returns
/// false for a name or value it does not take. Returns false on a bad command
/// line or --help (the caller prints the usage).
template <class Other>
bool parse_step_flags(int argc, char** argv, StepFlags& f, Other other) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return false;
    if (arg == "--breakdown") {
      f.breakdown = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (arg != "--steps" && arg != "--warmup" && arg != "--batch" && arg != "--seed") {
      if (!other(arg, value)) return false;
      continue;
    }
    char* end = nullptr;
    const long long v = std::strtoll(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0') return false;
    if (arg == "--steps") {
      f.steps = v;
    } else if (arg == "--warmup") {
      f.warmup = v;
    } else if (arg == "--batch") {
      f.batch = v;
    } else {
      f.seed = static_cast<uint64_t>(v);
    }
  }
  return f.steps >= 1 && f.warmup >= 0 && f.batch >= 0;
}

/// One host batch: uniform [0, 1) inputs (batch, ...input) and int32 labels in
/// [0, classes), drawn from `seed`.
inline void random_host_batch(const Shape& input, int64_t classes, int64_t batch, uint64_t seed,
                              Tensor& x, Tensor& y) {
  Shape shape{batch};
  shape.insert(shape.end(), input.begin(), input.end());
  x = Tensor::empty(shape, DType::kF32);
  y = Tensor::empty({batch}, DType::kI32);
  Rng rng(seed);
  float* xs = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) xs[i] = static_cast<float>(rng.uniform());
  int32_t* ys = y.data<int32_t>();
  for (int64_t i = 0; i < batch; ++i)
    ys[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(classes)));
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
