// The background batch pipeline (see pipeline.hpp).
//
// Decisions:
// - Slots: prefetch + 2 HostBatch slots allocated once (pinned). A slot is free,
//   being filled (by the thread), ready (FIFO) or held by the consumer; the
//   consumer holds at most two (the batch just returned and the one before, see
//   next()), so the thread always finds a free slot when nothing is ready: no
//   deadlock, and nothing is allocated per batch by the pipeline itself.
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
// - Normaliser: the formula and float rounding of Shard::gather_features (the
//   tests compare both modes with it element for element).

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

#include "core/rng.hpp"
#include "io/hdf5.hpp"

namespace lockstep::io {

namespace {

constexpr int64_t kFallbackPieceBytes = int64_t{1} << 20;
constexpr size_t kDefaultChunkCache = size_t{1} << 20;  // HDF5's default rdcc_nbytes
constexpr uint64_t kPieceSalt = 0x7069656365ull;        // separates the two stream Rngs
constexpr uint64_t kDrawSalt = 0x64726177ull;

size_t feature_size(FeatureType t) {
  return t == FeatureType::kUint8 ? 1 : 4;
}
size_t label_values(const DatasetInfo& info) {
  return static_cast<size_t>(info.label_kind == LabelKind::kClassIds ? 1 : info.target_dim);
}
// One row as held in memory: features in the file dtype, int32 ids or float targets.
size_t stored_row_bytes(const DatasetInfo& info) {
  return static_cast<size_t>(info.sample_size()) * feature_size(info.feature_type) +
         label_values(info) * 4;
}
// One row of a batch slot: float features plus labels.
size_t batch_row_bytes(const DatasetInfo& info) {
  return static_cast<size_t>(info.sample_size()) * 4 + label_values(info) * 4;
}

// x' = x * a[c] + b[c] with a = scale / std, b = -mean / std (as gather_features).
class Normaliser {
 public:
  Normaliser(const DatasetInfo& info, const Normalization& norm) {
    const int64_t channels = info.sample_shape.empty() ? 1 : info.sample_shape[0];
    const auto check = [&](const std::vector<double>& v, const char* what) {
      LOCKSTEP_CHECK(v.size() == 1 || static_cast<int64_t>(v.size()) == channels,
                     "normalisation: " << what << " has " << v.size() << " values; expected 1 or "
                                       << channels << " (one per channel of the sample shape "
                                       << h5::shape_string(info.sample_shape) << ")");
    };
    check(norm.mean, "mean");
    check(norm.std, "std");
    for (double s : norm.std) {
      LOCKSTEP_CHECK(std::isfinite(s) && s != 0.0,
                     "normalisation: std " << s << " is invalid; expected a finite non-zero value");
    }
    const double scale =
        norm.scale >= 0 ? norm.scale : (info.feature_type == FeatureType::kUint8 ? 1.0 / 255 : 1.0);
    for (size_t c = 0; c < static_cast<size_t>(channels); ++c) {
      const double mean = norm.mean.size() == 1 ? norm.mean[0] : norm.mean[c];
      const double sd = norm.std.size() == 1 ? norm.std[0] : norm.std[c];
      a_.push_back(static_cast<float>(scale / sd));
      b_.push_back(static_cast<float>(-mean / sd));
    }
    per_channel_ = info.sample_size() / channels;
  }

  template <class T>
  void apply(const T* src, float* dst) const {
    for (size_t c = 0; c < a_.size(); ++c) {
      const float ac = a_[c];
      const float bc = b_[c];
      for (int64_t j = 0; j < per_channel_; ++j) *dst++ = static_cast<float>(*src++) * ac + bc;
    }
  }

 private:
  std::vector<float> a_;
  std::vector<float> b_;
  int64_t per_channel_ = 1;
};

struct ChunkInfo {
  int64_t rows = 0;  // along N; 0 when the dataset is not chunked
  size_t bytes = 0;
};

ChunkInfo chunk_info(hid_t dataset) {
  h5::PropList dcpl{LOCKSTEP_HDF5_CHECK(H5Dget_create_plist(dataset))};
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return {};
  h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Dget_space(dataset))};
  h5::Datatype type{LOCKSTEP_HDF5_CHECK(H5Dget_type(dataset))};
  const int rank = LOCKSTEP_HDF5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  LOCKSTEP_HDF5_CHECK(H5Pget_chunk(dcpl.get(), rank, dims.data()));
  ChunkInfo info{static_cast<int64_t>(dims[0]), H5Tget_size(type.get())};
  for (hsize_t d : dims) info.bytes *= d;
  return info;
}

// Opens `name` with a chunk cache that holds at least one of its chunks.
h5::Dataset open_cached(hid_t file, const std::string& name) {
  h5::Dataset ds{LOCKSTEP_HDF5_CHECK(H5Dopen2(file, name.c_str(), H5P_DEFAULT))};
  const size_t bytes = chunk_info(ds.get()).bytes;
  if (bytes <= kDefaultChunkCache) return ds;
  ds.reset();
  h5::PropList dapl{LOCKSTEP_HDF5_CHECK(H5Pcreate(H5P_DATASET_ACCESS))};
  LOCKSTEP_HDF5_CHECK(H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, bytes,
                                         H5D_CHUNK_CACHE_W0_DEFAULT));
  return h5::Dataset{LOCKSTEP_HDF5_CHECK(H5Dopen2(file, name.c_str(), dapl.get()))};
}

// Reads rows [begin, begin + count) of `dataset` (N, rest...) into `out`.
void read_rows(hid_t dataset, int64_t begin, int64_t count, hid_t mem_type, void* out) {
  h5::Dataspace file_space{LOCKSTEP_HDF5_CHECK(H5Dget_space(dataset))};
  const auto shape = h5::extent(file_space.get());
  std::vector<hsize_t> start(shape.size(), 0);
  std::vector<hsize_t> size(shape.begin(), shape.end());
  start[0] = static_cast<hsize_t>(begin);
  size[0] = static_cast<hsize_t>(count);
  LOCKSTEP_HDF5_CHECK(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                          size.data(), nullptr));
  h5::Dataspace mem_space{
      LOCKSTEP_HDF5_CHECK(H5Screate_simple(static_cast<int>(size.size()), size.data(), nullptr))};
  LOCKSTEP_HDF5_CHECK(
      H5Dread(dataset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, out));
}

// The open file of kStream: reads rows of both datasets, naming the file on failure.
class RowReader {
 public:
  RowReader(const DatasetSpec& spec, const DatasetInfo& expected)
      : where_("dataset file '" + spec.path + "'"), spec_(spec), info_(expected) {
    const DatasetInfo found = probe_dataset(spec);  // the schema checks and their messages
    const auto schema = [](const DatasetInfo& i) {
      return std::tie(i.num_samples, i.sample_shape, i.feature_type, i.label_kind, i.target_dim);
    };
    LOCKSTEP_CHECK(schema(found) == schema(expected),
                   where_ << ": changed since the pipeline was created; expected "
                          << expected.num_samples << " samples of shape "
                          << h5::shape_string(expected.sample_shape) << " as before");
    file_ = h5::File{h5::open_read_only(spec.path, where_)};
    features_ = open_cached(file_.get(), spec.features);
    labels_ = open_cached(file_.get(), spec.labels);
    chunk_rows_ = chunk_info(features_.get()).rows;
    if (chunk_rows_ <= 0) {
      const auto row = static_cast<int64_t>(static_cast<size_t>(info_.sample_size()) *
                                            feature_size(info_.feature_type));
      chunk_rows_ = std::max<int64_t>(1, kFallbackPieceBytes / row);
    }
  }

  int64_t chunk_rows() const { return chunk_rows_; }

  /// Global rows [begin, begin + count) into the two buffers.
  void read(int64_t begin, int64_t count, void* features, void* labels) {
    try {
      read_rows(features_.get(), begin, count,
                info_.feature_type == FeatureType::kUint8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT,
                features);
      read_rows(labels_.get(), begin, count,
                info_.label_kind == LabelKind::kClassIds ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT,
                labels);
    } catch (const Error& e) {
      throw Error(where_ + ": reading rows [" + std::to_string(begin) + ", " +
                  std::to_string(begin + count) + ") of '" + spec_.features + "' and '" +
                  spec_.labels + "' failed: " + e.what());
    }
  }

 private:
  std::string where_;
  DatasetSpec spec_;
  DatasetInfo info_;
  h5::File file_;
  h5::Dataset features_;
  h5::Dataset labels_;
  int64_t chunk_rows_ = 1;
};

// kStream's shuffle buffer: `capacity` rows of features in the file dtype
// (u8 or f32, the other stays empty) and of labels as 4-byte words (int32 ids
// or float targets, copied bit for bit into the batch).
struct RowStore {
  RowStore(const DatasetInfo& info, int64_t rows)
      : capacity(rows), sample(static_cast<size_t>(info.sample_size())), words(label_values(info)) {
    const size_t values = static_cast<size_t>(rows) * sample;
    if (info.feature_type == FeatureType::kUint8) u8.resize(values);
    if (info.feature_type == FeatureType::kFloat32) f32.resize(values);
    labels.resize(static_cast<size_t>(rows) * words);
  }
  size_t bytes() const { return u8.size() + 4 * (f32.size() + labels.size()); }
  void* features_at(int64_t row) {
    const size_t i = static_cast<size_t>(row) * sample;
    return u8.empty() ? static_cast<void*>(f32.data() + i) : static_cast<void*>(u8.data() + i);
  }
  void* labels_at(int64_t row) { return labels.data() + static_cast<size_t>(row) * words; }
  void move_row(int64_t from, int64_t to) {
    const auto f = static_cast<size_t>(from);
    const auto t = static_cast<size_t>(to);
    if (!u8.empty()) std::memcpy(&u8[t * sample], &u8[f * sample], sample);
    if (!f32.empty()) std::memcpy(&f32[t * sample], &f32[f * sample], sample * 4);
    std::memcpy(&labels[t * words], &labels[f * words], words * 4);
  }
  // Normalised features and the labels of `row` into row `i` of `batch`.
  void emit(int64_t row, const Normaliser& norm, HostBatch& batch, int64_t i) const {
    const auto r = static_cast<size_t>(row);
    const auto at = static_cast<size_t>(i);
    float* x = batch.x.data<float>() + at * sample;
    if (!u8.empty()) norm.apply(&u8[r * sample], x);
    if (!f32.empty()) norm.apply(&f32[r * sample], x);
    std::memcpy(static_cast<char*>(batch.y.raw()) + at * words * 4, &labels[r * words], words * 4);
  }

  int64_t capacity;
  size_t sample;  // values per row
  size_t words;   // label values per row
  std::vector<uint8_t> u8;
  std::vector<float> f32;
  std::vector<int32_t> labels;
};

int64_t checked_rows(int64_t num_rows, const DatasetInfo& info) {
  LOCKSTEP_CHECK(num_rows >= 1 && num_rows <= info.num_samples,
                 "dataset file '" << info.path << "': num_rows " << num_rows
                                  << " is invalid; expected 1 <= num_rows <= " << info.num_samples
                                  << " (its samples)");
  return num_rows;
}

}  // namespace

struct BatchPipeline::Impl {
  Impl(const DatasetSpec& spec_in, int64_t num_rows, int world, int rank_in,
       const Normalization& norm_in, PipelineOptions options_in);
  void run();  // the thread
  void begin_epoch(int64_t epoch);
  void fill(HostBatch& batch, int64_t step);
  void refill(bool partial);

  // Fixed after construction.
  DatasetSpec spec;
  DatasetInfo info;
  PipelineOptions options;
  int rank;
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

BatchPipeline::Impl::Impl(const DatasetSpec& spec_in, int64_t num_rows, int world, int rank_in,
                          const Normalization& norm_in, PipelineOptions options_in)
    : spec(spec_in),
      info(probe_dataset(spec_in)),
      options(options_in),
      rank(rank_in),
      sampler(checked_rows(num_rows, info), world, rank_in, options_in.batch_size, options_in.seed,
              options_in.shuffle),
      norm(norm_in),
      normaliser(info, norm_in) {
  LOCKSTEP_CHECK(options.prefetch >= 1,
                 "pipeline: prefetch " << options.prefetch << " is invalid; expected >= 1");
  const int64_t b = options.batch_size;
  const auto num_slots = static_cast<size_t>(options.prefetch) + 2;
  const size_t batch_bytes = num_slots * static_cast<size_t>(b) * batch_row_bytes(info);
  const RowRange rows = sampler.shard();
  const size_t row_bytes = stored_row_bytes(info);
  const size_t shard_bytes = static_cast<size_t>(rows.size()) * row_bytes;
  const size_t bound = options.memory_bytes;
  if (bound == 0 || shard_bytes + batch_bytes <= bound) {
    shard.emplace(Shard::load(spec, rows.begin, rows.end));
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
  const Shape y_shape = ids ? Shape{b} : Shape{b, info.target_dim};
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
      if (options.augment.active()) {
        fill(batch, step);
        augment_batch(batch.x, options.augment,
                      hash_keys({options.seed, 0xA06ull, static_cast<uint64_t>(my_epoch),
                                 static_cast<uint64_t>(rank), static_cast<uint64_t>(step)}),
                      scratch);
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
  const RowRange rows = sampler.shard();
  const int64_t n = rows.size();
  if (!reader) {
    reader.emplace(spec, info);
    // Pieces end on the features' chunk boundaries (global rows).
    const int64_t chunk = reader->chunk_rows();
    for (int64_t g = rows.begin; g < rows.end;) {
      const int64_t end = std::min(rows.end, (g / chunk + 1) * chunk);
      pieces.push_back({g - rows.begin, end - rows.begin});
      g = end;
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
  const int64_t base = sampler.shard().begin;
  while (next_range < ranges.size() && count < store->capacity) {
    const int64_t left = ranges[next_range].end - next_row;
    const int64_t space = store->capacity - count;
    if (left > space && !partial) break;
    const int64_t take = std::min(left, space);
    reader->read(base + next_row, take, store->features_at(count), store->labels_at(count));
    count += take;
    next_row += take;
    if (next_row == ranges[next_range].end && ++next_range < ranges.size()) {
      next_row = ranges[next_range].begin;
    }
  }
}

void BatchPipeline::Impl::fill(HostBatch& batch, int64_t step) {
  const int64_t b = options.batch_size;
  if (mode == PipelineMode::kMemory) {
    const std::span<const int64_t> rows(order.data() + step * b, static_cast<size_t>(b));
    const auto sample = static_cast<size_t>(info.sample_size());
    shard->gather_features(rows, norm, {batch.x.data<float>(), rows.size() * sample});
    if (info.label_kind == LabelKind::kClassIds) {
      shard->gather_labels(rows, {batch.y.data<int32_t>(), rows.size()});
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
                             const Normalization& norm, PipelineOptions options)
    : impl_(std::make_unique<Impl>(spec, num_rows, world, rank, norm, options)) {}

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
