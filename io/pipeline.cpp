// The background batch pipeline (see pipeline.hpp).
//
// Decisions:
// - Slots: prefetch + 2 HostBatch slots allocated once (pinned). A slot is free,
//   being filled (by the thread), ready (FIFO) or held by the consumer; the
//   consumer holds at most two (the batch just returned and the one before, see
//   next()), so the thread always finds a free slot when nothing is ready: no
//   deadlock, and nothing is allocated per batch by the pipeline itself.
// - A slot the consumer gave back may still be read by an asynchronous copy to
//   the device (the trainer queues it and moves on; the step's work, the copy
//   included, runs behind the host). The thread waits for those reads
//   (WaitDeviceReads, by default memory::wait_device_reads: the event
//   recorded after the slot's latest copy) before refilling the slot, on its own thread, outside the lock.
// - Normalisation stays on the host, in float32: kMemory gathers and
//   normalises in one pass from the resident shard, kStream normalises while
//   emitting rows from the shuffle buffer, and augmentation (on this thread)
//   works on the normalised floats. Shipping uint8 images and normalising on
//   the device would need augmentation on the device too; not done.
// - start_epoch bumps a generation counter. The thread compares it before and
//   after each batch: a batch finished for an abandoned epoch goes back to the
//   free list, so stopping mid-epoch (or destroying the pipeline) never waits
//   for more than the batch in progress.
// - kMemory reuses Shard::load and Shard::gather_* with ShardSampler's order,
//   so its batches are by construction the sampler's. All its HDF5 calls run in
//   the constructor, on the caller's thread.
// - kStream opens the file in the thread at the first epoch (errors, including
//   a file removed after construction, surface from next() naming the file).
//   Pieces are aligned to the features' chunks so one read decompresses one
//   chunk; the labels' chunks are larger, so each dataset's chunk cache is
//   made to hold at least one of its chunks. Reads go straight into the
//   shuffle buffer; a sample is drawn uniformly from the buffer and the last row
//   moved into its place. Unshuffled epochs read the rows in ShardSampler's
//   unshuffled order (the rotation by epoch * steps * batch).
// - The thread calls HDF5 while the caller may too; this needs a thread-safe
//   HDF5 build (Debian's is). kStream checks it at run time instead of guessing.
// - Normaliser (io/normaliser.hpp): the one normalisation, which
//   Shard::gather_features applies too (the tests compare both modes with it
//   element for element).

#include "io/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <tuple>

#include "core/memory.hpp"
#include "core/rng.hpp"
#include "io/hdf5.hpp"
#include "io/pipeline_rows.hpp"

namespace lockstep::io {

using namespace pipeline_detail;  // NOLINT: the internal pieces of this file

struct BatchPipeline::Impl {
  Impl(const DatasetSpec& spec_in, RowSet rows_in, int world, int rank_in,
       const Normalization& norm_in, PipelineOptions options_in, WaitDeviceReads wait_reads);
  void run();  // the thread
  void begin_epoch(int64_t epoch);
  void fill(HostBatch& batch, int64_t step);
  void refill(bool partial);
  int64_t read_positions(int64_t local, int64_t take);

  // Fixed after construction.
  DatasetSpec spec;
  DatasetInfo info;
  PipelineOptions options;
  WaitDeviceReads wait_device_reads;
  int rank;
  RowSet row_set;  // the file rows in use; the sampler shards their positions
  ShardSampler sampler;
  Normalization norm;
  Normaliser normaliser;
  PipelineMode mode = PipelineMode::kMemory;
  size_t resident = 0;
  std::vector<HostBatch> slots;  // never resized: next() returns references

  // Thread-only state. kMemory: the shard and the epoch order.
  std::optional<Shard> shard;
  std::vector<int64_t> order;
  // kStream: the file, its pieces (local rows), this epoch's read ranges and cursor.
  std::optional<RowStore> store;
  std::optional<RowReader> reader;
  std::vector<RowRange> pieces;
  std::vector<RowRange> ranges;
  size_t next_range = 0;
  int64_t next_row = 0;
  int64_t count = 0;  // valid rows in the store
  int64_t head = 0;   // unshuffled: next row to emit
  Rng draw{0};

  // Shared, under `mutex`.
  std::mutex mutex;
  std::condition_variable producer_cv;
  std::condition_variable consumer_cv;
  bool stop = false;
  std::exception_ptr error;
  int64_t generation = 0;  // bumped by start_epoch
  int64_t epoch = -1;
  std::vector<int> free_slots;  // stack, capacity = slots
  std::vector<int> ready;       // FIFO ring, capacity = slots
  size_t ready_head = 0;
  size_t ready_count = 0;

  // Consumer-only.
  int held[2] = {-1, -1};  // the batches returned by the last two next() calls
  int64_t served = 0;      // batches of the current epoch returned
  double wait_s = 0;

  std::thread worker;  // last: started when everything above exists
};

BatchPipeline::Impl::Impl(const DatasetSpec& spec_in, RowSet rows_in, int world, int rank_in,
                          const Normalization& norm_in, PipelineOptions options_in,
                          WaitDeviceReads wait_reads)
    : spec(spec_in),
      info(probe_dataset(spec_in)),
      options(options_in),
      wait_device_reads(wait_reads ? std::move(wait_reads) : WaitDeviceReads(memory::wait_device_reads)),
      rank(rank_in),
      row_set(std::move(rows_in)),
      sampler(checked_rows(row_set, info), world, rank_in, options_in.batch_size, options_in.seed,
              options_in.shuffle),
      norm(norm_in),
      normaliser(info, norm_in) {
  LOCKSTEP_CHECK(options.prefetch >= 1,
                 "pipeline: prefetch " << options.prefetch << " is invalid; expected >= 1");
  const int64_t b = options.batch_size;
  const auto num_slots = static_cast<size_t>(options.prefetch) + 2;
  const size_t batch_bytes = num_slots * static_cast<size_t>(b) * batch_row_bytes(info);
  const RowRange positions = sampler.shard();
  const size_t row_bytes = stored_row_bytes(info);
  const size_t shard_bytes = static_cast<size_t>(positions.size()) * row_bytes;
  const size_t bound = options.memory_bytes;
  if (bound == 0 || shard_bytes + batch_bytes <= bound) {
    shard.emplace(load_rows(spec, row_set, positions));
    resident = shard_bytes + batch_bytes;
  } else {
    mode = PipelineMode::kStream;
    const std::string why = "dataset file '" + spec.path + "': the shard (" +
                            std::to_string(shard_bytes) + " bytes) exceeds memory_bytes (" +
                            std::to_string(bound) + ") and ";
    const size_t need = batch_bytes + 2 * static_cast<size_t>(b) * row_bytes;
    LOCKSTEP_CHECK(bound >= need, why << "streaming needs " << batch_bytes << " for " << num_slots
                                      << " batch slots plus a shuffle buffer of 2 batches; "
                                         "expected memory_bytes >= "
                                      << need);
    hbool_t threadsafe = 0;
    LOCKSTEP_HDF5_CHECK(H5is_library_threadsafe(&threadsafe));
    LOCKSTEP_CHECK(threadsafe, why << "streaming needs a thread-safe HDF5 build; expected "
                                      "memory_bytes 0 or >= "
                                   << shard_bytes + batch_bytes);
    store.emplace(info, static_cast<int64_t>((bound - batch_bytes) / row_bytes));
    resident = store->bytes() + batch_bytes;
  }
  Shape x_shape{b};
  x_shape.insert(x_shape.end(), info.sample_shape.begin(), info.sample_shape.end());
  const bool ids = info.label_kind == LabelKind::kClassIds;
  Shape y_shape = ids ? Shape{b} : Shape{b, info.target_dim};
  if (ids) y_shape.insert(y_shape.end(), info.label_shape.begin(), info.label_shape.end());
  for (size_t i = 0; i < num_slots; ++i) {
    slots.push_back({Tensor::empty_pinned(x_shape, DType::kF32),
                     Tensor::empty_pinned(y_shape, ids ? DType::kI32 : DType::kF32)});
    free_slots.push_back(static_cast<int>(i));
  }
  ready.assign(num_slots, -1);
  worker = std::thread([this] { run(); });
}

void BatchPipeline::Impl::run() {
  int64_t my_generation = 0;
  int64_t my_epoch = 0;
  int64_t step = 0;
  std::vector<float> scratch;  // augmentation
  const int64_t steps = sampler.steps_per_epoch();
  try {
    for (;;) {
      int slot = -1;
      int64_t new_epoch = -1;
      {
        std::unique_lock lock(mutex);
        producer_cv.wait(lock, [&] {
          return stop || generation != my_generation ||
                 (my_generation > 0 && step < steps && !free_slots.empty());
        });
        if (stop) return;
        if (generation != my_generation) {
          my_generation = generation;
          new_epoch = epoch;
          step = 0;
        } else {
          slot = free_slots.back();
          free_slots.pop_back();
        }
      }
      if (new_epoch >= 0) {
        my_epoch = new_epoch;
        begin_epoch(new_epoch);
        continue;
      }
      HostBatch& batch = slots[static_cast<size_t>(slot)];
      wait_device_reads(batch.x.raw());
      wait_device_reads(batch.y.raw());
      if (options.augment.active()) {
        fill(batch, step);
        augment_batch(batch.x, info.per_pixel() ? &batch.y : nullptr, options.augment,
                      hash_keys({options.seed, 0xA06ull, static_cast<uint64_t>(my_epoch),
                                 static_cast<uint64_t>(rank), static_cast<uint64_t>(step)}),
                      scratch, info.ignore_index.value_or(0));
        ++step;
      } else {
        fill(batch, step++);
      }
      std::lock_guard lock(mutex);
      if (generation == my_generation) {
        ready[(ready_head + ready_count++) % ready.size()] = slot;
        consumer_cv.notify_one();
      } else {
        free_slots.push_back(slot);  // finished for an abandoned epoch
      }
    }
  } catch (...) {
    std::lock_guard lock(mutex);
    error = std::current_exception();
    consumer_cv.notify_one();
  }
}

void BatchPipeline::Impl::begin_epoch(int64_t e) {
  if (mode == PipelineMode::kMemory) {
    order = sampler.epoch_order(e);
    return;
  }
  const RowRange own = sampler.shard();  // positions in `rows`
  const int64_t n = own.size();
  if (!reader) {
    reader.emplace(spec, info);
    // Pieces (local positions) end where their file rows cross a chunk boundary.
    const int64_t chunk = reader->chunk_rows();
    for (int64_t p = own.begin; p < own.end;) {
      const int64_t end =
          std::min(own.end, row_set.lower_bound((row_set.row(p) / chunk + 1) * chunk));
      pieces.push_back({p - own.begin, end - own.begin});
      p = end;
    }
    ranges.reserve(pieces.size() + 1);
  }
  ranges.clear();
  const auto key = [&](uint64_t salt) {
    return hash_keys({options.seed, static_cast<uint64_t>(e), static_cast<uint64_t>(rank), salt});
  };
  if (options.shuffle) {
    ranges = pieces;
    Rng rng(key(kPieceSalt));
    for (size_t i = ranges.size() - 1; i > 0; --i) {
      std::swap(ranges[i], ranges[static_cast<size_t>(rng.below(i + 1))]);
    }
  } else {  // ShardSampler's rotation: start at (e * used) mod n, wrap around
    const int64_t used = sampler.steps_per_epoch() * options.batch_size;
    const int64_t shift = (e % n) * used % n;
    size_t first = 0;
    while (pieces[first].end <= shift) ++first;
    ranges.push_back({shift, pieces[first].end});
    for (size_t i = 1; i < pieces.size(); ++i)
      ranges.push_back(pieces[(first + i) % pieces.size()]);
    if (shift > pieces[first].begin) ranges.push_back({pieces[first].begin, shift});
  }
  next_range = 0;
  next_row = ranges[0].begin;
  count = 0;
  head = 0;
  draw = Rng(key(kDrawSalt));
}

// Reads the next ranges into the store: whole remaining pieces while they fit;
// with `partial`, also the part of a piece that fits (needed to draw a batch).
void BatchPipeline::Impl::refill(bool partial) {
  while (next_range < ranges.size() && count < store->capacity) {
    const int64_t left = ranges[next_range].end - next_row;
    const int64_t space = store->capacity - count;
    if (left > space && !partial) break;
    next_row += read_positions(next_row, std::min(left, space));
    if (next_row == ranges[next_range].end && ++next_range < ranges.size()) {
      next_row = ranges[next_range].begin;
    }
  }
}

// Reads the rows of local positions [local, local + take) into the store at
// `count`. With gaps in the row set it reads the span of their file rows and
// drops the others, so it takes fewer positions when that span exceeds the
// free space (always at least one). Returns the positions read.
int64_t BatchPipeline::Impl::read_positions(int64_t local, int64_t take) {
  const int64_t p = sampler.shard().begin + local;
  const int64_t first = row_set.row(p);
  if (!row_set.contiguous()) {
    take = std::min(take, row_set.lower_bound(first + store->capacity - count) - p);
  }
  const int64_t span = row_set.row(p + take - 1) + 1 - first;
  reader->read(first, span, store->features_at(count), store->labels_at(count));
  for (int64_t i = 0; span != take && i < take; ++i) {
    const int64_t from = count + row_set.row(p + i) - first;
    if (from != count + i) store->move_row(from, count + i);
  }
  count += take;
  return take;
}

void BatchPipeline::Impl::fill(HostBatch& batch, int64_t step) {
  const int64_t b = options.batch_size;
  if (mode == PipelineMode::kMemory) {
    const std::span<const int64_t> rows(order.data() + step * b, static_cast<size_t>(b));
    const auto sample = static_cast<size_t>(info.sample_size());
    shard->gather_features(rows, norm, {batch.x.data<float>(), rows.size() * sample});
    if (info.label_kind == LabelKind::kClassIds) {
      shard->gather_labels(rows, {batch.y.data<int32_t>(), rows.size() * label_values(info)});
    } else {
      shard->gather_targets(rows, {batch.y.data<float>(), rows.size() * label_values(info)});
    }
    return;
  }
  if (!options.shuffle) {  // a FIFO: emit in read order, refill when empty
    for (int64_t i = 0; i < b; ++i) {
      if (head == count) {
        head = count = 0;
        refill(true);
        LOCKSTEP_CHECK(count > 0, "pipeline: internal error: no rows left to read in epoch");
      }
      store->emit(head++, normaliser, batch, i);
    }
    return;
  }
  refill(count < b);  // whole pieces; a partial one only when a batch would not be there
  LOCKSTEP_CHECK(count >= b, "pipeline: internal error: " << count
                                                          << " rows buffered for a batch of "
                                                          << b);  // n >= steps * b rows per epoch
  for (int64_t i = 0; i < b; ++i) {
    const auto j = static_cast<int64_t>(draw.below(static_cast<uint64_t>(count)));
    store->emit(j, normaliser, batch, i);
    if (j != --count) store->move_row(count, j);
  }
}

BatchPipeline::BatchPipeline(const DatasetSpec& spec, int64_t num_rows, int world, int rank,
                             const Normalization& norm, PipelineOptions options,
                             WaitDeviceReads wait_device_reads)
    : BatchPipeline(spec, RowSet::all(num_rows), world, rank, norm, options,
                    std::move(wait_device_reads)) {}

BatchPipeline::BatchPipeline(const DatasetSpec& spec, RowSet rows, int world, int rank,
                             const Normalization& norm, PipelineOptions options,
                             WaitDeviceReads wait_device_reads)
    : impl_(std::make_unique<Impl>(spec, std::move(rows), world, rank, norm, options,
                                   std::move(wait_device_reads))) {}

BatchPipeline::~BatchPipeline() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->producer_cv.notify_one();
  impl_->worker.join();
}

PipelineMode BatchPipeline::mode() const {
  return impl_->mode;
}
RowRange BatchPipeline::shard() const {
  return impl_->sampler.shard();
}
int64_t BatchPipeline::steps_per_epoch() const {
  return impl_->sampler.steps_per_epoch();
}
size_t BatchPipeline::resident_bytes() const {
  return impl_->resident;
}
double BatchPipeline::wait_seconds() const {
  return impl_->wait_s;
}

void BatchPipeline::start_epoch(int64_t epoch) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  if (s.error) std::rethrow_exception(s.error);
  LOCKSTEP_CHECK(epoch >= 0 && epoch > s.epoch,
                 "pipeline: start_epoch(" << epoch << ") after epoch " << s.epoch
                                          << "; expected epochs >= 0 in increasing order");
  ++s.generation;
  s.epoch = epoch;
  s.served = 0;
  for (; s.ready_count > 0; --s.ready_count) {  // batches of an unfinished epoch
    s.free_slots.push_back(s.ready[s.ready_head]);
    s.ready_head = (s.ready_head + 1) % s.ready.size();
  }
  s.producer_cv.notify_one();
}

const HostBatch& BatchPipeline::next() {
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  if (s.error) std::rethrow_exception(s.error);
  LOCKSTEP_CHECK(s.generation > 0, "pipeline: next() before start_epoch()");
  LOCKSTEP_CHECK(s.served < s.sampler.steps_per_epoch(), "pipeline: next() after the "
                                                             << s.served << " batches of epoch "
                                                             << s.epoch << "; expected start_epoch("
                                                             << s.epoch + 1 << ") first");
  if (s.held[0] >= 0) {  // returned two calls ago: the caller is done with it
    s.free_slots.push_back(s.held[0]);
    s.producer_cv.notify_one();
  }
  s.held[0] = s.held[1];
  s.held[1] = -1;
  if (s.ready_count == 0) {
    const auto t0 = std::chrono::steady_clock::now();
    s.consumer_cv.wait(lock, [&] { return s.ready_count > 0 || s.error; });
    s.wait_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (s.error) std::rethrow_exception(s.error);
  const int slot = s.ready[s.ready_head];
  s.ready_head = (s.ready_head + 1) % s.ready.size();
  --s.ready_count;
  s.held[1] = slot;
  ++s.served;
  return s.slots[static_cast<size_t>(slot)];
}

}  // namespace lockstep::io
