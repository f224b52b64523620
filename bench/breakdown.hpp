#pragma once
// The per-phase breakdown of a training step (--breakdown of the step
// benchmarks): where one step's time goes, layer by layer, measured inside
// real steps rather than layer by layer alone.
//
// trainer::Trainer::step keeps its phases to itself, so the breakdown takes
// the step the way Trainer::step takes a plain one (one micro-batch, no
// optimizer sharding, no clipping, train.on_nan = abort), from the same
// public pieces: zero the gradient slab, Model::forward with
// RunContext::on_layer_forwarded, the loss, Model::backward whose layer_done
// hands each layer to a comm::Reducer (the gradient buckets start during
// backward, as in training), Reducer::finalize, the global gradient norm, the
// optimizer. A mark is taken after every phase: a CUDA event recorded on the
// main stream on a GPU (every op runs there; the all-reduce's wait shows as
// the time the main stream waits), the steady clock on a CPU rank (ops are
// synchronous there). The marks cut each step into consecutive intervals, so
// per step the rows add up to the step exactly; the table gives each row's
// median over the timed steps, whose sum is close to the median step (the
// benchmark prints both, and Trainer::step's own median beside them).
//
// Output (rank 0), a markdown table between a header and a total line:
//   <B> breakdown precision=... batch=... ranks=... steps=... clock=cuda-events|steady-clock
//   | phase | ms | % of step |
//   |---|---|---|
//   | zero_grad | 0.0123 | 0.3 |
//   | fwd 0 conv2d(32, 3, padding=1) | 0.1234 | 3.0 |
//   ... loss, bwd n-1 ... bwd 0, allreduce, grad_norm, optimizer
//   <B> breakdown_total step_ms=... rows_ms=... mean_step_ms=... mean_rows_ms=... trainer_step_ms=...
// The PyTorch scripts print the same rows (bench/torch_step.py) so that
// bench/device_check.sh can set them side by side by phase ("fwd 3", "loss").

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.hpp"
#include "comm/communicator.hpp"
#include "comm/reducer.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/ops/optim.hpp"
#include "core/optimizer.hpp"
#include "core/rng.hpp"
#if LOCKSTEP_HAVE_CUDA
#include "core/cuda/runtime.hpp"
#endif

namespace lockstep::bench {

/// Marks taken in order during one step: CUDA events on the main stream
/// (gpu) or steady-clock readings. intervals() gives the milliseconds between
/// consecutive marks and starts the next step.
class MarkClock {
 public:
  MarkClock(bool gpu, size_t marks) : gpu_(gpu), host_(marks) {
#if LOCKSTEP_HAVE_CUDA
    if (gpu_)
      for (size_t i = 0; i < marks; ++i) events_.push_back(cuda::make_event(true));
#else
    LOCKSTEP_CHECK(!gpu_, "breakdown: expected a CPU clock in a build without CUDA");
#endif
  }

  const char* name() const { return gpu_ ? "cuda-events" : "steady-clock"; }

  void mark() {
    LOCKSTEP_CHECK(next_ < host_.size(), "breakdown: expected at most "
                                             << host_.size() << " marks in a step, got more");
#if LOCKSTEP_HAVE_CUDA
    if (gpu_) {
      LOCKSTEP_CUDA_CHECK(cudaEventRecord(events_[next_++].get(), cuda::main_stream()));
      return;
    }
#endif
    host_[next_++] = std::chrono::steady_clock::now();
  }

  std::vector<double> intervals() {
    LOCKSTEP_CHECK(next_ == host_.size(), "breakdown: expected " << host_.size()
                                                                 << " marks in a step, got "
                                                                 << next_);
    std::vector<double> ms(host_.size() - 1);
#if LOCKSTEP_HAVE_CUDA
    if (gpu_) {
      LOCKSTEP_CUDA_CHECK(cudaEventSynchronize(events_.back().get()));
      for (size_t i = 0; i + 1 < events_.size(); ++i) {
        float f = 0.0f;
        LOCKSTEP_CUDA_CHECK(cudaEventElapsedTime(&f, events_[i].get(), events_[i + 1].get()));
        ms[i] = static_cast<double>(f);
      }
      next_ = 0;
      return ms;
    }
#endif
    for (size_t i = 0; i + 1 < host_.size(); ++i)
      ms[i] = std::chrono::duration<double, std::milli>(host_[i + 1] - host_[i]).count();
    next_ = 0;
    return ms;
  }

 private:
  bool gpu_;
  std::vector<std::chrono::steady_clock::time_point> host_;
#if LOCKSTEP_HAVE_CUDA
  std::vector<cuda::Event> events_;
#endif
  size_t next_ = 0;
};

struct BreakdownOptions {
  size_t bucket_bytes = size_t{25} << 20;
  bool overlap = true;
  comm::WireType grad_dtype = comm::WireType::kF32;
  double lr = 0.01;
  uint64_t seed = 0;
};

/// Per phase, each timed step's milliseconds (rows), and each step's total.
struct Breakdown {
  std::vector<std::string> phases;
  std::vector<std::vector<double>> ms;  // [phase][step]
  std::vector<double> step_ms;
};

/// The phase names of `model`'s step, in the order the marks cut it.
inline std::vector<std::string> step_phases(Model& model) {
  std::vector<std::string> p{"zero_grad"};
  const size_t n = model.num_layers();
  for (size_t i = 0; i < n; ++i) p.push_back("fwd " + std::to_string(i) + " " + model.layer(i).spec());
  p.push_back("loss");
  for (size_t i = n; i-- > 0;) p.push_back("bwd " + std::to_string(i) + " " + model.layer(i).spec());
  p.push_back("allreduce");
  p.push_back("grad_norm");
  p.push_back("optimizer");
  return p;
}

/// `warmup` untimed, then `steps` timed steps of (x, y) with a mark after each
/// phase. Collective (the all-reduce): every rank of `comm` calls it.
inline Breakdown measure_breakdown(Model& model, Loss& loss, Optimizer& optimizer,
                                   comm::Communicator& comm, const Tensor& x, const Tensor& y,
                                   int64_t steps, int64_t warmup, bool gpu,
                                   const BreakdownOptions& o) {
  Tensor& grads = model.grads();
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (size_t i = 0; i < model.num_layers(); ++i) ranges.push_back(model.layer_slab_range(i));
  comm::Reducer reducer(comm, std::span<float>(grads.data<float>(), static_cast<size_t>(grads.numel())),
                        ranges, o.bucket_bytes, o.overlap, o.grad_dtype);
  Breakdown b;
  b.phases = step_phases(model);
  b.ms.resize(b.phases.size());
  MarkClock clock(gpu, b.phases.size() + 1);
  Tensor dout;

  for (int64_t s = 0; s < warmup + steps; ++s) {
    RunContext ctx{Mode::kTrain, hash_keys({o.seed, static_cast<uint64_t>(s),
                                            static_cast<uint64_t>(comm.rank())})};
    ctx.world = comm.size();
    if (comm.size() > 1) {  // BatchNorm's statistics over the global batch, as the trainer does
      ctx.sum_across_ranks = [&comm](Tensor& t) {
        comm.allreduce(std::span<float>(t.data<float>(), static_cast<size_t>(t.numel())),
                       comm::ReduceOp::kSum);
      };
    }
    ctx.on_layer_forwarded = [&clock](size_t) { clock.mark(); };
    clock.mark();
    model.zero_grad();
    clock.mark();
    const Tensor out = model.forward(x, ctx);
    ensure_shape(dout, out.shape(), out.dtype(), out.device());
    // The rank's share of the global loss weight (trainer/step.cpp loss_mean_over).
    double mean_over = loss.local_weight(out, y);
    if (loss.weight_varies(out)) {
      if (comm.size() > 1) comm.allreduce(std::span<double>(&mean_over, 1), comm::ReduceOp::kSum);
      mean_over = mean_over > 0 ? mean_over / comm.size() : 1.0;
    }
    const LossSums sums = loss.compute(out, y, mean_over, &dout);
    LOCKSTEP_CHECK(std::isfinite(sums.loss), "breakdown: expected a finite loss at step "
                                                 << s << ", got " << sums.loss);
    clock.mark();
    model.backward(dout, [&](size_t layer) {
      reducer.layer_done(layer);
      clock.mark();
    });
    reducer.finalize();
    clock.mark();
    const double norm = std::sqrt(ops::sum_squares(grads));
    LOCKSTEP_CHECK(std::isfinite(norm), "breakdown: expected finite gradients at step "
                                            << s << ", got a norm of " << norm);
    clock.mark();
    optimizer.step(model.params(), grads, o.lr);
    clock.mark();
    const std::vector<double> ms = clock.intervals();
    if (s < warmup) continue;
    double total = 0.0;
    for (size_t p = 0; p < ms.size(); ++p) {
      b.ms[p].push_back(ms[p]);
      total += ms[p];
    }
    b.step_ms.push_back(total);
  }
  return b;
}

inline double mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

/// The table (see the top of this file). `header` follows "<id> breakdown ";
/// trainer_step_ms: Trainer::step's median in the same process (0: none).
inline void print_step_breakdown(const char* id, const Breakdown& b, const std::string& header,
                                 double trainer_step_ms) {
  const double step = median(b.step_ms);
  std::printf("%s breakdown %s\n| phase | ms | %% of step |\n|---|---|---|\n", id, header.c_str());
  double rows = 0.0, mean_rows = 0.0;
  for (size_t p = 0; p < b.phases.size(); ++p) {
    const double ms = median(b.ms[p]);
    rows += ms;
    mean_rows += mean(b.ms[p]);
    std::printf("| %s | %.4f | %.1f |\n", b.phases[p].c_str(), ms, step > 0 ? 100.0 * ms / step : 0.0);
  }
  std::printf("| sum of rows | %.4f | %.1f |\n| step | %.4f | 100.0 |\n", rows,
              step > 0 ? 100.0 * rows / step : 0.0, step);
  std::printf(
      "%s breakdown_total step_ms=%.4f rows_ms=%.4f mean_step_ms=%.4f mean_rows_ms=%.4f "
      "trainer_step_ms=%.4f steps=%zu\n",
      id, step, rows, mean(b.step_ms), mean_rows, trainer_step_ms, b.step_ms.size());
  std::fflush(stdout);
}

}  // namespace lockstep::bench
