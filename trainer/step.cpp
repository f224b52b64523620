// One training step on this rank: launch it on the device, settle the one
// before it a step late, read its outcome (trainer.hpp "Note: lagged step
// results"). Top to bottom: step() and the launch/settle pair; read_outcome,
// where the host learns a step's sums and decision; queue_step, which queues
// the step's device work: forward_backward (with micro_step, one micro-batch),
// the gradient all-reduce (finalize_reduction, record_communication) and
// device_update, or graph_step replaying them as CUDA graphs; trace_span last.
// Construction, fit and evaluation are in trainer.cpp.

#include "trainer/trainer.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>

#include "comm/watchdog.hpp"
#include "core/ops/elementwise.hpp"
#include "core/ops/loss.hpp"
#include "core/ops/optim.hpp"
#include "core/rng.hpp"

namespace lockstep::trainer {

namespace {

std::span<float> slab_span(Tensor& t) {
  return {t.data<float>(), static_cast<size_t>(t.numel())};
}

// `t` on `device`: itself when already there, else copied by `input`
// (asynchronously from pinned memory, on a copy stream the compute stream
// waits for; trainer/device_input.hpp).
const Tensor& on_device(const Tensor& t, DeviceInput& input, Device device) {
  return input.to_device(t, device);
}

// The denominator of this rank's loss mean (core/loss.hpp, "Note: per-pixel
// cross-entropy"): its rows, or its share of the global batch's pixel weight
// when that can differ between ranks.
double loss_mean_over(comm::Communicator& comm, Loss& loss, const Tensor& out, const Tensor& y) {
  double w = loss.local_weight(out, y);
  if (!loss.weight_varies(out)) return w;
  if (comm.size() > 1) comm.allreduce(std::span<double>(&w, 1), comm::ReduceOp::kSum);
  return w > 0 ? w / comm.size() : 1.0;  // nothing counted: the gradient is 0 anyway
}

}  // namespace

// Note: non-finite steps. A rank whose loss is not finite writes NaN into the
// first gradient of the lowest layer with parameters before that layer's
// bucket is all-reduced (decided on the device from the step's loss totals),
// and NaN or Inf in any rank's gradients survives the all-reduce. So after
// the all-reduce every rank sees a non-finite gradient norm exactly when some
// rank had a non-finite loss or gradient: the flag travels with the
// gradients, and every rank takes the same decision without a collective of
// its own. The decision is taken on the device (ops::prepare_step: no update,
// BatchNorm statistics restored); the host reads it back a step later to
// count, report and abort (see "Note: lagged step results", trainer.hpp).

LossSums Trainer::step(const Tensor& x, const Tensor& y) {
  settle();
  std::optional<StepOutcome> o = launch(x, y);
  if (!o) o = settle();
  return o->sums;
}

std::optional<StepOutcome> Trainer::launch(const Tensor& x, const Tensor& y) {
  const int64_t number = step_, rows = x.dim(0);
  queue_step(x, y);
  // The previous step's read-back was queued behind its own work, before
  // this step's: reading it now leaves the device busy with this step.
  std::optional<StepOutcome> previous;
  if (pending_) previous = read_outcome();
  totals_back_.start(totals_);
  control_back_.start(optimizer_.control());
  pending_ = true;
  pending_step_ = number;
  pending_rows_ = rows;
  if (model_.device() == Device::kCpu) return read_outcome();  // CPU ranks: no lag
  return previous;
}

std::optional<StepOutcome> Trainer::settle() {
  if (!pending_) return std::nullopt;
  return read_outcome();
}

// The pending step's sums and decisions, once its read-back has completed;
// throws the errors it found (the same on every rank: the decision comes from
// the all-reduced gradients).
StepOutcome Trainer::read_outcome() {
  LOCKSTEP_CHECK(pending_, "trainer: no step is pending");
  pending_ = false;
  const Tensor& totals = totals_back_.wait();
  const Tensor& control = control_back_.wait();
  StepOutcome o;
  o.step = pending_step_;
  o.sums = loss_.check_totals(totals.data<double>(), pending_rows_);
  o.grad_norm = control.data<double>()[ops::kSlotNorm];
  o.skipped = control.data<double>()[ops::kSlotSkipped] != 0;
  grad_norm_ = o.grad_norm;
  skipped_ = o.skipped;
  if (!o.skipped) {
    consecutive_skips_ = 0;
    return o;
  }
  o.consecutive_skips = ++consecutive_skips_;
  if (options_.on_nan == NanPolicy::kAbort)
    throw comm::CollectiveError(
        "non-finite loss or gradients at step " + std::to_string(o.step) +
            " (train.on_nan = abort; lower optim.lr, set optim.clip_norm, or "
            "train.on_nan = skip)",
        kExitNonFinite);
  if (consecutive_skips_ > options_.max_nan_skips)
    throw comm::CollectiveError(
        "non-finite loss or gradients in " + std::to_string(consecutive_skips_) +
            " consecutive steps, up to step " + std::to_string(o.step) +
            " (train.max_nan_skips = " + std::to_string(options_.max_nan_skips) + ")",
        kExitNonFinite);
  return o;
}

// Queues one step's work: forward, backward, all-reduce, the device-side
// decision and the optimizer pass (launch() then queues the read-back of its
// outcome). The host waits for nothing here on a GPU with NCCL (the
// Reducer's own waits aside).
void Trainer::queue_step(const Tensor& x_in, const Tensor& y_in) {
  if (comm::Watchdog* w = comm_.watchdog()) w->set_step(step_);
  tracing_ = trace_ && trace_->records(step_);
  trace_step_ = step_;
  const double step_begin = steady_seconds();
  mark_ = step_begin;
  poison_ = options_.fault.due(comm_.rank(), step_) && inject_fault(options_.fault);
  const bool may_skip = options_.on_nan == NanPolicy::kSkip && model_.buffers().numel() > 0;
  const int64_t k = options_.accumulate_steps;
  const int64_t rows = x_in.dim(0);
  LOCKSTEP_CHECK(rows % k == 0, "trainer: expected a batch of a multiple of "
                                    << k << " rows (train.accumulate_steps), got " << rows);
  const double lr = schedule_.lr_at(step_);
  // A traced step or one that injects a fault runs eagerly (host work inside
  // the step); it leaves the captured buffers where they were.
  if (options_.cuda_graph && !tracing_ && !poison_) {
    graph_step(x_in, y_in, may_skip, lr);
  } else {
    forward_backward(x_in, y_in, may_skip, [this](size_t layer) { reducer_.layer_done(layer); });
    finalize_reduction();
    optimizer_.set_inputs(lr, options_.clip_norm);
    mark_ = steady_seconds();
    device_update(may_skip);
  }
  ++step_;
  if (tracing_) {
    trace_span("optimizer", "optimizer");
    trace_->span("step " + std::to_string(trace_step_), "step", 3, step_begin, mark_, trace_step_);
  }
}

// Forward, loss and backward: the part of a step a CUDA graph holds
// (dist.cuda_graph), `reduce_layer` (the Reducer's hook) aside.
void Trainer::forward_backward(const Tensor& x_in, const Tensor& y_in, bool may_skip,
                               const std::function<void(size_t)>& reduce_layer) {
  if (may_skip) {  // forward updates BatchNorm running statistics: keep a copy
    ensure_shape(buffers_backup_, model_.buffers().shape(), model_.buffers().dtype(),
                 model_.device());
    buffers_backup_.copy_from(model_.buffers());
  }
  // train.accumulate_steps = k: the rank's batch is k micro-batches of
  // batch_size rows. Each micro-batch's gradient is scaled as a part of the
  // whole batch (mean over k * batch_size rows); the first k - 1 are summed
  // into grad_sum_ without any communication, and the last one adds that sum
  // into each layer's gradients just before the layer reports done, so the
  // buckets are all-reduced once per step, while backward runs.
  const int64_t k = options_.accumulate_steps;
  const int64_t micro_rows = x_in.dim(0) / k;
  ensure_shape(totals_, {ops::kLossTotals}, DType::kF64, model_.device());
  totals_.zero();
  model_.zero_grad();
  for (int64_t m = 0; m + 1 < k; ++m) {
    if (m > 0) model_.zero_grad();  // each micro-batch's own gradients (layers add into them)
    micro_step(x_in, y_in, m * micro_rows, micro_rows, m, k, {});
    if (m == 0) {
      ensure_shape(grad_sum_, model_.grads().shape(), DType::kF32, model_.device());
      grad_sum_.copy_from(model_.grads());
    } else {
      ops::add(grad_sum_, model_.grads(), grad_sum_);
    }
  }
  const auto layer_done = [&](size_t layer) {
    const auto [begin, end] = model_.layer_slab_range(layer);
    if (k > 1 && end > begin) {
      Tensor g = model_.grads().view(begin, {end - begin});
      ops::add(g, grad_sum_.view(begin, {end - begin}), g);
    }
    if (layer == first_param_layer_ && end > begin) {  // "Note: non-finite steps"
      Tensor first = model_.grads().view(begin, {1});
      ops::poison_if_nonfinite(first, totals_, ops::kTotalLoss);
    }
    if (tracing_)
      trace_span("backward " + std::to_string(layer) + " " + model_.layer(layer).spec(),
                 "backward");
    if (reduce_layer) reduce_layer(layer);
  };
  if (k > 1) model_.zero_grad();
  micro_step(x_in, y_in, (k - 1) * micro_rows, micro_rows, k - 1, k, layer_done);
}

// One micro-batch: rows [first, first + rows) of (x, y) through forward, the
// loss (its gradient scaled as one of `micro_batches` parts of the step's batch) and
// backward, calling `layer_done` as each layer's gradients are final.
void Trainer::micro_step(const Tensor& x_in, const Tensor& y_in, int64_t first, int64_t rows,
                         int64_t micro, int64_t micro_batches,
                         const std::function<void(size_t)>& layer_done) {
  const auto row_slice = [&](const Tensor& t) {
    if (first == 0 && rows == t.dim(0)) return t;
    Shape shape = t.shape();
    const int64_t per_row = t.numel() / t.dim(0);
    shape[0] = rows;
    return t.view(first * per_row, shape);
  };
  const Tensor x_rows = row_slice(x_in), y_rows = row_slice(y_in);
  const Tensor& x = on_device(x_rows, x_dev_, model_.device());
  const Tensor& y = on_device(y_rows, y_dev_, model_.device());
  // The dropout key of micro-batch 0 is the step's (as without accumulation).
  uint64_t key =
      hash_keys({options_.seed, static_cast<uint64_t>(step_), static_cast<uint64_t>(comm_.rank())});
  if (micro > 0) key = hash_keys({key, static_cast<uint64_t>(micro)});
  RunContext ctx{Mode::kTrain, key};
  ctx.world = comm_.size();
  if (comm_.size() > 1 && capturing_) {
    ctx.sum_across_ranks = [](Tensor&) {
      throw Error(
          "dist.cuda_graph = true: a layer sums its statistics across ranks inside forward "
          "(synchronised batchnorm), which a CUDA graph cannot hold; set dist.cuda_graph = "
          "false");
    };
  } else if (comm_.size() > 1) {
    ctx.sum_across_ranks = [this](Tensor& t) {
      comm_.allreduce(std::span<float>(t.data<float>(), static_cast<size_t>(t.numel())),
                      comm::ReduceOp::kSum);
    };
  }
  if (tracing_)
    ctx.on_layer_forwarded = [&](size_t i) {
      trace_span("forward " + std::to_string(i) + " " + model_.layer(i).spec(), "forward");
    };
  const Tensor out = model_.forward(x, ctx);
  ensure_shape(dout_, out.shape(), out.dtype(), out.device());
  // Each rank takes the mean over its own batch (its share of the global
  // batch's pixel weight where that varies); averaging over ranks then gives
  // the mean over the global batch. A micro-batch is a part of its step's
  // batch of `micro_batches` parts.
  LOCKSTEP_CHECK(!options_.cuda_graph || !loss_.weight_varies(out),
                 "dist.cuda_graph = true: expected no model.ignore_index or model.class_weights "
                 "with per-pixel outputs (their weight is summed on the host every step), got "
                 "them; set dist.cuda_graph = false");
  double mean_over = loss_mean_over(comm_, loss_, out, y_rows);
  if (micro_batches > 1) {
    LOCKSTEP_CHECK(!loss_.weight_varies(out),
                   "train.accumulate_steps = "
                       << micro_batches
                       << ": expected no model.ignore_index or model.class_weights with "
                          "per-pixel outputs (their weight per micro-batch varies), got them");
    mean_over *= static_cast<double>(micro_batches);
  }
  // The sums stay on the device (read back a step later); a non-finite total
  // marks the gradients in layer_done ("Note: non-finite steps").
  loss_.accumulate(out, y, mean_over, &dout_, totals_, first);
  if (tracing_) trace_span("loss", "forward");
  if (poison_) {  // LOCKSTEP_FAULT action=nan: NaN loss and gradients on this rank
    Tensor nan = Tensor::empty({1}, DType::kF64);
    nan.data<double>()[0] = std::numeric_limits<double>::quiet_NaN();
    Tensor total = totals_.view(ops::kTotalLoss, {1});
    total.copy_from(nan);
    ops::scale(dout_, std::numeric_limits<double>::quiet_NaN());
  }
  model_.backward(dout_, layer_done);
}

// The device's side of the update once the gradients are all-reduced: the
// sum of squares, the decision and the fused pass (ops/optim.hpp), the
// BatchNorm restore of a skipped step. The other part a CUDA graph holds
// (the inputs are uploaded before it: Optimizer::set_inputs).
void Trainer::device_update(bool may_skip) {
  // After the all-reduce every rank holds the same gradients, so the norm,
  // the non-finite check and the clipping are identical on every rank
  // (sharded: each rank holds a slice; the norm's sum of squares is summed).
  Tensor& grads = sharded_ ? shard_grads_ : model_.grads();
  const bool device_comm = model_.device() == Device::kCuda && comm_.backend() == "nccl";
  // NCCL sums float32 on the device; elsewhere the sum is float64 (on CPU
  // ranks in host memory, where MPI sums it as before).
  ensure_shape(sum_squares_, {1}, sharded_ && device_comm ? DType::kF32 : DType::kF64,
               model_.device());
  ops::sum_squares(grads, sum_squares_, sum_squares_scratch_);
  if (sharded_) {
    if (device_comm) {
      comm_.allreduce(std::span<float>(sum_squares_.data<float>(), 1), comm::ReduceOp::kSum);
    } else if (model_.device() == Device::kCpu) {
      comm_.allreduce(std::span<double>(sum_squares_.data<double>(), 1), comm::ReduceOp::kSum);
    } else {  // GPU ranks over MPI: through the host
      Tensor host = Tensor::empty({1}, DType::kF64);
      host.copy_from(sum_squares_);
      comm_.allreduce(std::span<double>(host.data<double>(), 1), comm::ReduceOp::kSum);
      sum_squares_.copy_from(host);
    }
  }
  // The optimizer skips a non-finite step and clips on the device.
  if (sharded_) {  // this rank's slice, then every rank's slice to every rank
    Tensor slice = model_.params().view(shard_lo_, {shard_hi_ - shard_lo_});
    optimizer_.apply(slice, grads, sum_squares_);
    comm_.allgather_pieces(slab_span(model_.params()), shard_counts_);
  } else {
    optimizer_.apply(model_.params(), grads, sum_squares_);
  }
  if (may_skip) ops::restore_if_skipped(model_.buffers(), buffers_backup_, optimizer_.control());
}

// Note: CUDA graph steps (dist.cuda_graph). A step is two graphs: forward +
// loss + backward, and the update (sum of squares, decision, fused pass,
// restore). The gradient all-reduce runs eagerly between them: the Reducer
// waits for its buckets on the host (NCCL's error polling, the watchdog) and
// launches them from backward's per-layer hook, neither of which a graph can
// hold; after the first graph is queued the hook is called for every layer in
// the order the warm-up step's backward reported them, so the buckets go out
// in the same order on every rank (overlap with backward is given up; the
// buckets still overlap one another). The first step with a batch shape runs
// eagerly (every buffer sized where it will stay), the next one is captured;
// a batch of another shape discards the graphs. Per-step values reach the
// graphs through device memory only (the step control block, the staged
// batch); a host value a kernel would keep (the dropout key, per-pixel class
// weights summed on the host, a micro-batch count) is refused at start.
void Trainer::graph_step(const Tensor& x_in, const Tensor& y_in, bool may_skip, double lr) {
  // The captured kernels read the batch from fixed buffers.
  ensure_shape(graph_x_, x_in.shape(), x_in.dtype(), model_.device());
  ensure_shape(graph_y_, y_in.shape(), y_in.dtype(), model_.device());
  graph_x_.copy_from(x_in);
  graph_y_.copy_from(y_in);
  if (graph_shape_ != x_in.shape()) {
    forward_graph_.reset();
    update_graph_.reset();
    graph_shape_ = x_in.shape();
    layer_order_.clear();
  }
  if (layer_order_.empty()) {  // the warm-up
    forward_backward(graph_x_, graph_y_, may_skip, [this](size_t layer) {
      layer_order_.push_back(layer);
      reducer_.layer_done(layer);
    });
    finalize_reduction();
    optimizer_.set_inputs(lr, options_.clip_norm);
    device_update(may_skip);
    return;
  }
  const auto capture = [this](Graph& graph, const std::function<void()>& body) {
    capturing_ = true;
    graph.begin();
    try {
      body();
      graph.end();
    } catch (...) {
      graph.abort();
      capturing_ = false;
      throw;
    }
    capturing_ = false;
  };
  if (!forward_graph_.ready())
    capture(forward_graph_, [&] { forward_backward(graph_x_, graph_y_, may_skip, {}); });
  forward_graph_.launch();
  for (const size_t layer : layer_order_) reducer_.layer_done(layer);
  finalize_reduction();
  optimizer_.set_inputs(lr, options_.clip_norm);
  if (!update_graph_.ready()) capture(update_graph_, [&] { device_update(may_skip); });
  update_graph_.launch();
}

// The step's all-reduce timings (Reducer) as exposed time and overlap, and
// on the timeline: each bucket from launch to completion, and finalize's wait.
void Trainer::finalize_reduction() {
  const bool device_timed = model_.device() != Device::kCpu && comm_.size() > 1;
  if (device_timed) comm_wait_.mark_begin();
  reducer_.finalize();
  if (device_timed) comm_wait_.mark_end();
  record_communication();
}

// A GPU rank's exposed time is the main stream's stall between backward's
// last kernel and the all-reduce's completion, known a step later (the
// previous step's figure stands for this one's); the bucket times are the
// host's view, where completion is a lower bound (comm/reducer.hpp).
void Trainer::record_communication() {
  const auto& times = reducer_.bucket_times();
  overlap_ = {};
  overlap_.exposed_s = model_.device() != Device::kCpu && comm_.size() > 1
                           ? comm_wait_.previous_seconds()
                           : reducer_.finalize_end() - reducer_.finalize_begin();
  if (comm_.size() > 1 && !times.empty()) {
    overlap_.comm_s = times.back().completed - times.front().launched;
    if (overlap_.comm_s > 0)
      overlap_.overlap = std::clamp(1.0 - overlap_.exposed_s / overlap_.comm_s, 0.0, 1.0);
  } else {
    overlap_.exposed_s = 0.0;
  }
  if (!tracing_) return;
  trace_->span("wait for all-reduce", "communication", 0, reducer_.finalize_begin(),
               reducer_.finalize_end(), trace_step_);
  for (size_t b = 0; b < times.size(); ++b)
    trace_->span("all-reduce bucket " + std::to_string(b + 1) + "/" + std::to_string(times.size()),
                 "communication", 1, times[b].launched, times[b].completed, trace_step_);
  mark_ = reducer_.finalize_end();
}

void Trainer::trace_span(const std::string& name, const char* category, int track) {
  const double now = steady_seconds();
  trace_->span(name, category, track, mark_, now, trace_step_);
  mark_ = now;
}

}  // namespace lockstep::trainer
