// The Trainer around its steps: construction (the options' checks, the
// Reducer, the ZeRO-1 slices), the parameter and buffer broadcasts, the
// optimizer state for checkpoints, the agreed stop signal, and fit: epochs of
// steps, their accounting, evaluation and the epoch's report. One step itself
// (launch, settle, read its outcome) is in trainer/step.cpp.

#include "trainer/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <span>
#include <string>

#include "io/pipeline.hpp"
#include "trainer/early_stop.hpp"
#include "trainer/eval_metrics.hpp"

namespace lockstep::trainer {

namespace {

std::span<float> slab_span(Tensor& t) {
  return {t.data<float>(), static_cast<size_t>(t.numel())};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Global sums of (loss, correct, rows) across ranks.
EvalResult global_result(comm::Communicator& comm, double loss, int64_t correct, int64_t rows) {
  std::vector<double> l{loss};
  std::vector<int64_t> c{correct, rows};
  comm.allreduce(std::span<double>(l), comm::ReduceOp::kSum);
  comm.allreduce(std::span<int64_t>(c), comm::ReduceOp::kSum);
  EvalResult r;
  r.samples = c[1];
  r.correct = c[0];
  r.loss = r.samples ? l[0] / static_cast<double>(r.samples) : 0.0;
  r.accuracy = r.samples ? static_cast<double>(r.correct) / static_cast<double>(r.samples) : 0.0;
  return r;
}

// Rank 0: the epoch's progress line and metrics.jsonl record.
void report_epoch(const EpochRecord& rec, int64_t epochs, int64_t step, double lr, LossKind kind,
                  MetricsFile* metrics) {
  const bool classify = kind == LossKind::kCrossEntropy;
  std::printf("epoch %lld/%lld  train loss %.4f", static_cast<long long>(rec.epoch + 1),
              static_cast<long long>(epochs), rec.train.loss);
  if (classify) std::printf(" acc %.4f", rec.train.accuracy);
  if (rec.test) {
    std::printf("  test loss %.4f", rec.test->loss);
    if (classify) std::printf(" acc %.4f", rec.test->accuracy);
  }
  const auto val =
      rec.val ? validation_figures(*rec.val, kind) : std::vector<std::pair<std::string, double>>{};
  for (size_t i = 0; i < val.size(); ++i)
    std::printf("%s%s %.4f", i == 0 ? "  " : " ", val[i].first.c_str(), val[i].second);
  std::printf("  (%.1fs, %.0f samples/s)\n", rec.seconds, rec.samples_per_s);
  std::fflush(stdout);
  if (!metrics) return;
  nlohmann::json j{{"type", "epoch"},
                   {"epoch", rec.epoch + 1},
                   {"step", step},
                   {"train_loss", rec.train.loss},
                   {"seconds", rec.seconds},
                   {"samples_per_s", rec.samples_per_s},
                   {"input_wait_s", rec.input_wait_s},
                   {"exposed_comm_s", rec.exposed_comm_s},
                   {"comm_s", rec.comm_s},
                   {"overlap", rec.overlap},
                   {"lr", lr}};
  if (classify) j["train_accuracy"] = rec.train.accuracy;
  if (rec.test) {
    j["test_loss"] = rec.test->loss;
    if (classify) j["test_accuracy"] = rec.test->accuracy;
  }
  for (const auto& [name, value] : val) j[name] = value;
  metrics->write(j);
}

}  // namespace

EvalResult evaluate(comm::Communicator& comm, Model& model, Loss& loss, const ShardedData& data,
                    int64_t batch_size) {
  const EvalMetrics m =
      evaluate_metrics(comm, model, loss.kind(), data, batch_size, 1, loss.options());
  EvalResult r;
  r.samples = m.samples();
  r.loss = m.loss();
  r.correct = m.correct();
  r.accuracy = loss.kind() == LossKind::kCrossEntropy ? m.accuracy() : 0.0;
  return r;
}

Trainer::Trainer(comm::Communicator& comm, Model& model, Loss loss, Optimizer& optimizer,
                 LrSchedule schedule, TrainOptions options)
    : comm_(comm),
      model_(model),
      loss_(std::move(loss)),
      optimizer_(optimizer),
      schedule_(schedule),
      options_(options),
      reducer_(
          comm, slab_span(model.grads()),
          [&] {
            std::vector<std::pair<int64_t, int64_t>> ranges;
            for (size_t i = 0; i < model.num_layers(); ++i)
              ranges.push_back(model.layer_slab_range(i));
            return ranges;
          }(),
          options.bucket_bytes, options.overlap, options.grad_dtype) {
  LOCKSTEP_CHECK(model.dtype() == DType::kF32,
                 "trainer: expected a float32 model, got " << to_string(model.dtype()));
  LOCKSTEP_CHECK(options.accumulate_steps >= 1,
                 "train.accumulate_steps: expected >= 1, got " << options.accumulate_steps);
  LOCKSTEP_CHECK(options.batch_size > 0,
                 "train.batch_size: expected > 0, got " << options.batch_size);
  LOCKSTEP_CHECK(options.epochs >= 0, "train.epochs: expected >= 0, got " << options.epochs);
  LOCKSTEP_CHECK(options.log_every > 0, "log.every: expected > 0, got " << options.log_every);
  if (options.cuda_graph) {  // "Note: CUDA graph steps"
    LOCKSTEP_CHECK(model.device() == Device::kCuda,
                   "dist.cuda_graph = true: expected GPU ranks (dist.device = cuda), got a rank "
                   "that trains on the CPU");
    LOCKSTEP_CHECK(options.accumulate_steps == 1,
                   "dist.cuda_graph = true: expected train.accumulate_steps = 1, got "
                       << options.accumulate_steps);
    LOCKSTEP_CHECK(!(options.shard_optimizer && comm.size() > 1),
                   "dist.cuda_graph = true: expected dist.shard_optimizer = false (its "
                   "all-gather runs between the update's kernels), got true");
    LOCKSTEP_CHECK(model.spec().find("dropout") == std::string::npos,
                   "dist.cuda_graph = true: expected a model without dropout (its key changes "
                   "every step, and a graph would replay the first step's mask), got '"
                       << model.spec() << "'");
  }
  LOCKSTEP_CHECK(options.max_nan_skips >= 1,
                 "train.max_nan_skips: expected >= 1, got " << options.max_nan_skips);
  shard_hi_ = model.num_params();
  if (options.shard_optimizer && comm.size() > 1) {
    const std::vector<int64_t> bounds = shard_bounds(model.num_params(), comm.size());
    sharded_ = true;
    shard_lo_ = bounds[static_cast<size_t>(comm.rank())];
    shard_hi_ = bounds[static_cast<size_t>(comm.rank()) + 1];
    for (size_t r = 0; r + 1 < bounds.size(); ++r)
      shard_counts_.push_back(bounds[r + 1] - bounds[r]);
    shard_grads_ = Tensor::zeros({shard_hi_ - shard_lo_}, DType::kF32, model.device());
    reducer_.shard_into(slab_span(shard_grads_), bounds);
  }
  for (auto& [name, slab] : optimizer_.state())
    LOCKSTEP_CHECK(slab.numel() == shard_hi_ - shard_lo_,
                   "trainer: expected the optimizer's state '"
                       << name << "' over " << shard_hi_ - shard_lo_ << " parameters"
                       << (sharded_ ? " (this rank's slice, dist.shard_optimizer)" : "") << ", got "
                       << slab.numel());
  while (first_param_layer_ + 1 < model.num_layers() &&
         model.layer_slab_range(first_param_layer_).first ==
             model.layer_slab_range(first_param_layer_).second)
    ++first_param_layer_;
}

void Trainer::broadcast_parameters() {
  comm_.broadcast(slab_span(model_.params()), 0);
  sync_buffers();
}

void Trainer::sync_buffers() {
  if (model_.buffers().numel() > 0) comm_.broadcast(slab_span(model_.buffers()), 0);
}

std::vector<std::pair<std::string, Tensor>> Trainer::full_optimizer_state() {
  std::vector<std::pair<std::string, Tensor>> state = optimizer_.state();
  if (!sharded_) return state;
  for (auto& [name, slab] : state) {
    Tensor full = Tensor::zeros(model_.params().shape(), DType::kF32, model_.device());
    Tensor mine = full.view(shard_lo_, {shard_hi_ - shard_lo_});
    mine.copy_from(slab);
    comm_.allgather_pieces(slab_span(full), shard_counts_);
    slab = full;
  }
  return state;
}

std::vector<int64_t> shard_bounds(int64_t n, int world) {
  const int64_t each = (n + world - 1) / world;
  std::vector<int64_t> b;
  for (int r = 0; r <= world; ++r) b.push_back(std::min<int64_t>(n, r * each));
  return b;
}

// The signal every rank agrees to stop on after this step (0: go on): the
// largest pending one, so that a signal seen by any rank stops all of them at
// the same step. Without a blocking collective per step: the all-reduce of
// the signal polled after step s is started then and completed after step
// s + 1, so every rank stops after the same step, one step after the signal
// was seen. `wait_now` (an epoch's end, where evaluation and checkpoints
// follow) also agrees on the signal polled now, blocking.
int Trainer::agreed_stop_signal(bool wait_now) {
  if (!options_.stop_signal) return 0;
  int64_t agreed = 0;
  if (stop_request_) {
    stop_request_->wait();
    stop_request_.reset();
    agreed = stop_value_;
  }
  if (agreed > 0) return static_cast<int>(agreed);
  stop_value_ = options_.stop_signal();
  if (wait_now) {
    comm_.allreduce(std::span<int64_t>(&stop_value_, 1), comm::ReduceOp::kMax);
    return static_cast<int>(stop_value_);
  }
  stop_request_ =
      comm_.allreduce_host_async(std::span<int64_t>(&stop_value_, 1), comm::ReduceOp::kMax);
  return 0;
}

std::unique_ptr<io::BatchPipeline> open_train_input(const ShardedData& train,
                                                    const TrainOptions& options,
                                                    comm::Communicator& comm) {
  io::PipelineOptions input;
  input.batch_size = options.batch_size * options.accumulate_steps;  // a step's rows
  input.seed = options.seed;
  input.shuffle = options.shuffle;
  input.memory_bytes = options.input.memory_bytes;
  input.prefetch = options.input.prefetch;
  input.augment = options.input.augment;
  std::unique_ptr<io::BatchPipeline> pipeline;
  comm::check_on_all_ranks(comm, [&] {
    pipeline = std::make_unique<io::BatchPipeline>(train.options().spec, train.rows(), comm.size(),
                                                   comm.rank(), train.options().norm, input);
  });
  return pipeline;
}

std::vector<EpochRecord> Trainer::fit(const ShardedData& train, const ShardedData* test,
                                      MetricsFile* metrics, const StepHook& after_step,
                                      const ShardedData* val, const EpochHook& after_epoch) {
  const std::unique_ptr<io::BatchPipeline> input = open_train_input(train, options_, comm_);
  return fit(*input, test, metrics, after_step, val, after_epoch);
}

std::vector<EpochRecord> Trainer::fit(io::BatchPipeline& input, const ShardedData* test,
                                      MetricsFile* metrics, const StepHook& after_step,
                                      const ShardedData* val, const EpochHook& after_epoch) {
  io::BatchPipeline* const pipeline = &input;
  const int64_t steps = pipeline->steps_per_epoch();
  const int64_t global_batch =  // samples per step
      options_.batch_size * options_.accumulate_steps * comm_.size();
  const bool root = comm_.rank() == 0;
  Progress progress(root ? Progress::parse(options_.progress) : Progress::Style::kNone,
                    options_.log_every);
  std::vector<EpochRecord> records;
  // A resumed run starts inside its epoch; on another number of ranks the
  // epoch has another length, so the offset is capped.
  int64_t skip = std::min(start_.step_in_epoch, steps - 1);
  for (int64_t epoch = start_.epoch; epoch < options_.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const double wait0 = pipeline->wait_seconds();
    pipeline->start_epoch(epoch);
    progress.start_epoch(epoch, options_.epochs, steps);
    double loss_sum = 0.0;
    int64_t correct = 0, rows = 0;
    for (int64_t s = 0; s < skip; ++s) pipeline->next();  // the steps done before the resume
    const int64_t first = skip;
    skip = 0;
    double exposed_sum = 0.0, comm_sum = 0.0;
    // The host learns a step's loss and skip flag one step late on a GPU
    // ("Note: lagged step results"): the figures below count each step once
    // its outcome arrives, and the epoch's last one is settled before its
    // totals are taken, before evaluation and before fit returns.
    double rate = 0.0;
    const auto account = [&](const StepOutcome& o) {
      if (o.skipped) {
        if (root) {
          std::printf("step %lld: non-finite loss or gradients: step skipped (%lld in a row)\n",
                      static_cast<long long>(o.step),  // the step in progress, as in errors
                      static_cast<long long>(o.consecutive_skips));
          std::fflush(stdout);
          if (metrics)
            metrics->write({{"type", "skip"},
                            {"epoch", epoch + 1},
                            {"step", o.step + 1},
                            {"consecutive", o.consecutive_skips}});
        }
        return;
      }
      loss_sum += o.sums.loss;
      correct += o.sums.correct;
      rows += o.sums.rows;
      if (metrics && root && ((o.step + 1) % options_.log_every == 0)) {
        metrics->write({{"type", "step"},
                        {"epoch", epoch + 1},
                        {"step", o.step + 1},
                        {"loss", o.sums.loss / static_cast<double>(o.sums.rows)},
                        {"lr", schedule_.lr_at(o.step)},
                        {"grad_norm", o.grad_norm},
                        {"samples_per_s", rate},
                        {"exposed_comm_s", overlap_.exposed_s},
                        {"overlap", overlap_.overlap}});
      }
    };
    for (int64_t s = first; s < steps; ++s) {
      const double wait_begin = steady_seconds();
      const io::HostBatch& batch = pipeline->next();
      if (trace_ && trace_->records(step_))
        trace_->span("input", "input", 2, wait_begin, steady_seconds(), step_);
      const std::optional<StepOutcome> outcome = launch(batch.x, batch.y);
      exposed_sum += overlap_.exposed_s;
      comm_sum += overlap_.comm_s;
      rate = static_cast<double>((s + 1 - first) * global_batch) / seconds_since(t0);
      if (outcome) account(*outcome);
      progress.update(s, rows ? loss_sum / static_cast<double>(rows) : 0.0, rate);
      const bool last = s + 1 == steps;
      stop_signal_ = agreed_stop_signal(last);
      const bool stopping =
          (options_.stop_after_steps > 0 && step_ >= options_.stop_after_steps) || stop_signal_ > 0;
      if (last || stopping) {
        if (const std::optional<StepOutcome> o = settle()) account(*o);
        if (stop_request_) {  // stopped by train.stop_after_steps: complete it on every rank
          stop_request_->wait();
          stop_request_.reset();
        }
      }
      if (last) break;  // the epoch-end hook runs after the evaluation
      if (after_step) after_step(Position{step_, epoch, s + 1}, false, stopping);
      if (stopping) {
        progress.end_epoch();
        return records;
      }
    }
    progress.end_epoch();
    EpochRecord rec;
    rec.epoch = epoch;
    rec.step = step_;
    rec.seconds = seconds_since(t0);
    rec.samples_per_s = static_cast<double>(steps * global_batch) / rec.seconds;
    rec.input_wait_s = pipeline->wait_seconds() - wait0;
    const double trained = static_cast<double>(std::max<int64_t>(1, steps - first));
    rec.exposed_comm_s = exposed_sum / trained;
    rec.comm_s = comm_sum / trained;
    rec.overlap = comm_sum > 0 ? std::clamp(1.0 - exposed_sum / comm_sum, 0.0, 1.0) : 1.0;
    rec.train = global_result(comm_, loss_sum, correct, rows);
    sync_buffers();  // every rank evaluates (and saves) with rank 0's running statistics
    if (test) rec.test = evaluate(comm_, model_, loss_, *test, options_.eval_batch_size);
    if (val)
      rec.val = evaluate_metrics(comm_, model_, loss_.kind(), *val, options_.eval_batch_size, 1,
                                 loss_.options());
    if (options_.cuda_graph && (test || val)) {
      // Evaluation sized the buffers the model and the loss keep for its own
      // batch, so the graphs hold stale addresses: the next step runs eagerly
      // again (resizing them) and the one after it is captured anew.
      forward_graph_.reset();
      update_graph_.reset();
      layer_order_.clear();
    }
    if (root)
      report_epoch(rec, options_.epochs, step_, schedule_.lr_at(step_ - 1), loss_.kind(), metrics);
    records.push_back(rec);
    const bool early_stop = after_epoch && after_epoch(rec);
    const bool stopping =
        (options_.stop_after_steps > 0 && step_ >= options_.stop_after_steps) || stop_signal_ > 0;
    if (after_step) after_step(Position{step_, epoch + 1, 0}, true, stopping);
    if (stopping || early_stop) return records;
  }
  return records;
}

}  // namespace lockstep::trainer