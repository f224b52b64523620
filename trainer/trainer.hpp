#pragma once
// The training loop: every rank runs forward and backward on its own batch, the
// Reducer averages the gradient slab across ranks while backward runs, and every
// rank applies the same optimizer step, so the replicas stay identical.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/reducer.hpp"
#include "core/graph.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "core/optimizer.hpp"
#include "core/schedule.hpp"
#include "core/transfer.hpp"
#include "io/pipeline.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/data.hpp"
#include "trainer/device_input.hpp"
#include "trainer/eval_metrics.hpp"
#include "trainer/fault.hpp"
#include "trainer/metrics.hpp"
#include "trainer/trace.hpp"

namespace lockstep::trainer {

/// What a step with a non-finite loss or gradient does (train.on_nan).
enum class NanPolicy {
  kAbort,  // stop the run (exit code kExitNonFinite)
  kSkip,   // leave parameters, optimizer state and buffers as they were
};

struct TrainOptions {
  int64_t epochs = 10;
  int64_t batch_size = 128;        // per rank and micro-batch
  int64_t eval_batch_size = 1000;  // rows per evaluation batch (whole batches per rank)
  uint64_t seed = 0;
  bool shuffle = true;
  int64_t log_every = 100;        // steps between progress lines
  std::string progress = "auto";  // rank 0's progress: auto, bar, lines, off
  size_t bucket_bytes = size_t{25} << 20;
  double clip_norm = 0.0;        // > 0: scale gradients to at most this global L2 norm
  InputOptions input;            // the training input pipeline
  int64_t stop_after_steps = 0;  // > 0: stop once this many global steps are done
  NanPolicy on_nan = NanPolicy::kAbort;
  int64_t max_nan_skips = 10;  // kSkip: this many consecutive skipped steps end the run
  // When set, polled after every step: a signal number (> 0) asks the run to
  // stop there (preemption); the ranks agree on it before stopping.
  std::function<int()> stop_signal = nullptr;
  FaultPlan fault = {};          // a fault to inject (tests; launch/ parses LOCKSTEP_FAULT into it)
  int64_t accumulate_steps = 1;  // micro-batches per optimizer step (one all-reduce)
  bool overlap = true;           // test the all-reduce buckets in flight between backward's layers
  comm::WireType grad_dtype = comm::WireType::kF32;  // how gradients travel in the all-reduce
  // ZeRO-1: gradients reduce-scattered, each rank updates its slice of the
  // parameters (the optimizer must be built over shard_bounds' slice), then
  // the parameters are all-gathered.
  bool shard_optimizer = false;
  // dist.cuda_graph: replay each step's forward + backward and its update as
  // two CUDA graphs (trainer/step.cpp "Note: CUDA graph steps"); GPU ranks only.
  bool cuda_graph = false;
};

/// Exit codes of a training run that ends early (README "Failure behaviour").
constexpr int kExitNonFinite = 4;  // non-finite loss or gradients (train.on_nan)
constexpr int kExitStopped = 75;   // stopped by a signal after a checkpoint (EX_TEMPFAIL)

/// Exact global figures over a dataset (sums all-reduced across ranks).
struct EvalResult {
  double loss = 0.0;      // mean per-sample loss
  double accuracy = 0.0;  // classification only
  int64_t samples = 0;
  int64_t correct = 0;
};

/// Visits every sample of `data` exactly once across ranks (collective).
EvalResult evaluate(comm::Communicator& comm, Model& model, Loss& loss, const ShardedData& data,
                    int64_t batch_size);

struct EpochRecord {
  int64_t epoch = 0;               // 0-based
  int64_t step = 0;                // global steps done at the end of the epoch
  EvalResult train;                // over the samples trained on this epoch
  std::optional<EvalResult> test;  // when a test set is given
  std::optional<EvalMetrics> val;  // when validation rows are given
  double seconds = 0.0;
  double samples_per_s = 0.0;
  double input_wait_s = 0.0;  // rank 0's time waiting for input batches
  // Rank 0's gradient all-reduce per step, averaged over the epoch (CommOverlap).
  double exposed_comm_s = 0.0;
  double comm_s = 0.0;
  double overlap = 1.0;
};

/// The slices of a slab of `n` elements over `world` ranks (ZeRO-1): rank r
/// owns [bounds[r], bounds[r + 1]), ceil(n / world) elements each (the last
/// ones fewer or none).
std::vector<int64_t> shard_bounds(int64_t n, int world);

/// Collective: the training input over `train` (this rank's shard, batches of
/// options.batch_size, shuffled by options.seed): its steps_per_epoch() is the
/// epoch length the schedule and the loop both use.
std::unique_ptr<io::BatchPipeline> open_train_input(const ShardedData& train,
                                                    const TrainOptions& options,
                                                    comm::Communicator& comm);

/// What the host learns about a step once its device work has run: its
/// loss sums, whether it was skipped (non-finite gradients) and its norm.
struct StepOutcome {
  int64_t step = 0;  // the step's number: global steps done before it
  LossSums sums;
  bool skipped = false;
  double grad_norm = 0.0;         // global gradient norm (after the all-reduce, before clipping)
  int64_t consecutive_skips = 0;  // skipped steps in a row up to this one
};

class Trainer {
 public:
  Trainer(comm::Communicator& comm, Model& model, Loss loss, Optimizer& optimizer,
          LrSchedule schedule, TrainOptions options);

  /// Copies rank 0's parameters and buffers to every rank (collective).
  void broadcast_parameters();
  /// Copies rank 0's buffers (BatchNorm running statistics) to every rank, as
  /// PyTorch DDP does: ranks that normalise with local batch statistics drift
  /// apart in these; evaluation and saving use rank 0's (collective).
  void sync_buffers();

  /// One step on this rank's batch (x, y), host or device tensors (copied to
  /// the model's device when needed); every rank must call it with a batch of
  /// the same size, accumulate_steps micro-batches of rows. Returns this
  /// rank's loss sums for the batch.
  LossSums step(const Tensor& x, const Tensor& y);

  /// Note: lagged step results. launch() queues a step without waiting for
  /// the device: the loss sums and the skip flag come back through pinned
  /// memory and are read one step later. It returns the outcome the host has
  /// just learnt: on a GPU the previous step's (none for the first), on CPU
  /// ranks this step's (no lag). settle() waits for the one still pending.
  /// Errors a step finds (train.on_nan, train.max_nan_skips, a class id out
  /// of range on a GPU) are thrown when its outcome is read, on every rank
  /// alike. step() is launch() then settle().
  std::optional<StepOutcome> launch(const Tensor& x, const Tensor& y);
  std::optional<StepOutcome> settle();
  bool step_pending() const { return pending_; }

  /// Called on every rank after every step with the position of the next
  /// step; `epoch_end` after the last step of an epoch (before evaluation),
  /// `stopping` when fit is about to return early (train.stop_after_steps or
  /// a stop signal). At an epoch's end it runs after the evaluation and the
  /// EpochHook, so a checkpoint written there holds the state they updated.
  using StepHook = std::function<void(const Position& next, bool epoch_end, bool stopping)>;
  /// Called on every rank after each epoch's evaluation (collective); true
  /// ends training after this epoch (early stopping).
  using EpochHook = std::function<bool(const EpochRecord&)>;

  /// Trains up to options.epochs epochs over `train` from the current
  /// position; evaluates `test` and `val` after each epoch when given; rank 0
  /// prints progress and writes `metrics` records.
  std::vector<EpochRecord> fit(const ShardedData& train, const ShardedData* test,
                               MetricsFile* metrics, const StepHook& after_step = {},
                               const ShardedData* val = nullptr, const EpochHook& after_epoch = {});
  /// The same over an input opened by open_train_input (whose steps_per_epoch
  /// the caller's schedule was made for).
  std::vector<EpochRecord> fit(io::BatchPipeline& input, const ShardedData* test,
                               MetricsFile* metrics, const StepHook& after_step = {},
                               const ShardedData* val = nullptr, const EpochHook& after_epoch = {});

  /// Continue from a checkpoint's position (the state itself is restored
  /// separately, see restore_state).
  void resume(const Position& p) {
    step_ = p.step;
    start_ = p;
  }

  int64_t global_step() const { return step_; }
  /// Whether the last step was skipped for a non-finite loss or gradient.
  bool last_step_skipped() const { return skipped_; }
  /// The signal that stopped fit (agreed across ranks), 0 if none.
  int stopped_by_signal() const { return stop_signal_; }
  /// Global gradient norm of the last step (after the all-reduce, before clipping).
  double last_grad_norm() const { return grad_norm_; }
  /// The last step's gradient all-reduce as backward saw it.
  const CommOverlap& last_overlap() const { return overlap_; }
  /// Whether the optimizer state is sharded across ranks, and this rank's
  /// slice of the parameter slab ([0, params) when not).
  bool sharded() const { return sharded_; }
  std::pair<int64_t, int64_t> shard() const { return {shard_lo_, shard_hi_}; }
  /// Collective when sharded: the optimizer's state slabs over the whole
  /// parameter slab (gathered from every rank's slice), for checkpoints.
  std::vector<std::pair<std::string, Tensor>> full_optimizer_state();
  /// Records the steps `trace` asks for into it (log.trace); nullptr: none.
  void set_trace(Trace* trace) { trace_ = trace; }
  Loss& loss() { return loss_; }

 private:
  int agreed_stop_signal(bool wait_now);
  // One step (trainer/step.cpp).
  StepOutcome read_outcome();
  void queue_step(const Tensor& x, const Tensor& y);
  void forward_backward(const Tensor& x, const Tensor& y, bool may_skip,
                        const std::function<void(size_t)>& reduce_layer);
  void micro_step(const Tensor& x, const Tensor& y, int64_t first, int64_t rows, int64_t micro,
                  int64_t micro_batches, const std::function<void(size_t)>& layer_done);
  void device_update(bool may_skip);
  void graph_step(const Tensor& x, const Tensor& y, bool may_skip, double lr);
  /// The Reducer's finalize(), timed: on a GPU rank the main stream's wait for
  /// the buckets, measured by events (StreamInterval), since the host does not
  /// wait there (comm/nccl.hpp).
  void finalize_reduction();
  void record_communication();
  void trace_span(const std::string& name, const char* category, int track = 0);

  comm::Communicator& comm_;
  Model& model_;
  Loss loss_;
  Optimizer& optimizer_;
  LrSchedule schedule_;
  TrainOptions options_;
  comm::Reducer reducer_;
  Tensor dout_;
  DeviceInput x_dev_, y_dev_;  // the batch on the model's device
  int64_t step_ = 0;
  Position start_;
  double grad_norm_ = 0.0;
  bool skipped_ = false;
  int64_t consecutive_skips_ = 0;
  int stop_signal_ = 0;
  size_t first_param_layer_ = 0;  // the layer holding slab element 0
  Tensor buffers_backup_;         // kSkip: the buffers before the step
  Tensor totals_;       // (ops::kLossTotals,) float64: the step's loss sums, on the device
  Tensor sum_squares_;  // (1,) the gradient's sum of squares, on the device
  Tensor sum_squares_scratch_;
  Readback totals_back_, control_back_;  // the pending step's sums and decisions
  bool pending_ = false;                 // a queued step whose outcome is not read yet
  int64_t pending_step_ = 0, pending_rows_ = 0;
  int64_t stop_value_ = 0;  // the stop signal all-reduce's buffer
  std::unique_ptr<comm::Request> stop_request_;
  // dist.cuda_graph ("Note: CUDA graph steps")
  Graph forward_graph_, update_graph_;
  Tensor graph_x_, graph_y_;         // the batch where the graphs read it
  Shape graph_shape_;                // the batch shape they were captured for
  std::vector<size_t> layer_order_;  // the warm-up's order of layer_done calls
  bool capturing_ = false;
  Tensor grad_sum_;      // accumulate_steps > 1: the earlier micro-batches' gradients
  bool poison_ = false;  // this step injects a NaN (LOCKSTEP_FAULT)
  CommOverlap overlap_;
  StreamInterval comm_wait_;  // GPU ranks: the main stream's wait for the buckets
  bool sharded_ = false;
  int64_t shard_lo_ = 0, shard_hi_ = 0;
  std::vector<int64_t> shard_counts_;  // every rank's slice length
  Tensor shard_grads_;                 // this rank's slice of the averaged gradients
  Trace* trace_ = nullptr;
  bool tracing_ = false;  // this step is recorded
  int64_t trace_step_ = 0;
  double mark_ = 0.0;  // tracing: when the last span ended
};

}  // namespace lockstep::trainer
