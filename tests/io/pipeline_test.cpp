// BatchPipeline: kMemory batches equal ShardSampler's gather row for row;
// kStream epochs are exact (steps * b distinct rows of the rank's shard, labels
// with their features, normalised like Shard::gather_features), shuffled
// differently per epoch, deterministic per seed and within the memory bound;
// unshuffled streaming equals kMemory; stopping early and destroying mid-epoch
// do not hang or leave threads; thread errors surface from next() naming the file;
// a slot is refilled only once the device has read it (a fake device here).
//
// Files are crafted so the answer is exact: the label of a row is its global
// index, and its features are a distinct function of that index.

#include "io/pipeline.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;
using test::TempFolder;

// Runs `f`; aborts the test binary when it takes more than 60 s (a hang).
template <class F>
void within_deadline(F&& f) {
  auto done = std::async(std::launch::async, std::forward<F>(f));
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "pipeline test: no progress in 60 s (hang)\n");
    std::abort();
  }
  done.get();
}

int thread_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

struct FileShape {
  int64_t n = 100;
  std::vector<int64_t> sample{2, 3, 3};
  bool u8 = true;
  bool ids = true;    // else (n, 2) float targets
  hsize_t chunk = 0;  // features' rows per chunk; 0: io::write_dataset's chunking
};

// Features of row i: distinct per row; label i (or targets {i, -i}).
DatasetArrays make_arrays(const FileShape& f) {
  DatasetArrays a;
  a.sample_shape = f.sample;
  a.feature_type = f.u8 ? FeatureType::kUint8 : FeatureType::kFloat32;
  a.label_kind = f.ids ? LabelKind::kClassIds : LabelKind::kTargets;
  a.target_dim = f.ids ? 1 : 2;
  int64_t s = 1;
  for (int64_t d : f.sample) s *= d;
  for (int64_t i = 0; i < f.n; ++i) {
    for (int64_t j = 0; j < s; ++j) {
      const int64_t v = j == 0 ? i & 255 : j == 1 ? (i >> 8) & 255 : (i * 7 + j * 13) & 255;
      if (f.u8) a.features_u8.push_back(static_cast<uint8_t>(v));
      if (!f.u8) a.features_f32.push_back(static_cast<float>(i) + 0.25f * static_cast<float>(j));
    }
    if (f.ids) a.labels.push_back(static_cast<int32_t>(i));
    if (!f.ids) a.targets.insert(a.targets.end(), {static_cast<float>(i), -static_cast<float>(i)});
  }
  return a;
}

// With f.chunk > 0: features chunked by f.chunk rows, labels by 3 * f.chunk, gzip.
DatasetSpec write_file(const TempFolder& dir, const FileShape& f, const std::string& name) {
  DatasetSpec spec;
  spec.path = dir.file(name);
  const DatasetArrays a = make_arrays(f);
  if (f.chunk == 0) {
    write_dataset(spec, a);
    return spec;
  }
  test::RawFile file(spec.path);
  const auto add = [&](const std::string& ds, hid_t type, std::vector<hsize_t> dims, hsize_t rows,
                       const void* data) {
    h5::Dataspace space{H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)};
    h5::PropList dcpl{H5Pcreate(H5P_DATASET_CREATE)};
    std::vector<hsize_t> chunk = dims;
    chunk[0] = std::min<hsize_t>(rows, dims[0]);
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) H5Pset_deflate(dcpl.get(), 4);
    h5::Dataset d{H5Dcreate2(file.get(), ds.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(),
                             H5P_DEFAULT)};
    ASSERT_TRUE(d);
    ASSERT_GE(H5Dwrite(d.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
  };
  std::vector<hsize_t> dims{static_cast<hsize_t>(f.n)};
  dims.insert(dims.end(), f.sample.begin(), f.sample.end());
  if (f.u8) add(spec.features, H5T_NATIVE_UINT8, dims, f.chunk, a.features_u8.data());
  if (!f.u8) add(spec.features, H5T_NATIVE_FLOAT, dims, f.chunk, a.features_f32.data());
  const hsize_t n = static_cast<hsize_t>(f.n);
  if (f.ids) add(spec.labels, H5T_NATIVE_INT32, {n}, 3 * f.chunk, a.labels.data());
  if (!f.ids) add(spec.labels, H5T_NATIVE_FLOAT, {n, 2}, 3 * f.chunk, a.targets.data());
  return spec;
}

Normalization channel_norm() {
  Normalization norm;
  norm.mean = {0.5, -1.25};
  norm.std = {0.3, 2.0};
  return norm;
}

// One batch copied out, with the global row of each sample (from its label).
struct Copied {
  std::vector<float> x;
  std::vector<float> y;  // labels as float (exact for these sizes)
  std::vector<int64_t> rows;
};

Copied copy_batch(const HostBatch& batch) {
  Copied c;
  const auto* x = batch.x.data<float>();
  c.x.assign(x, x + batch.x.numel());
  const int64_t b = batch.x.dim(0);
  for (int64_t i = 0; i < b; ++i) {
    const float label = batch.y.dtype() == DType::kI32
                            ? static_cast<float>(batch.y.data<int32_t>()[i])
                            : batch.y.data<float>()[i * 2];
    if (batch.y.dtype() == DType::kI32) c.y.push_back(label);
    if (batch.y.dtype() == DType::kF32) c.y.insert(c.y.end(), {label, -label});
    c.rows.push_back(static_cast<int64_t>(label));
  }
  return c;
}

// What Shard::gather_* gives for these local rows.
Copied gathered(const Shard& shard, std::span<const int64_t> rows, const Normalization& norm) {
  Copied c;
  c.x.resize(rows.size() * static_cast<size_t>(shard.info().sample_size()));
  shard.gather_features(rows, norm, c.x);
  if (shard.info().label_kind == LabelKind::kClassIds) {
    std::vector<int32_t> ids(rows.size());
    shard.gather_labels(rows, ids);
    c.y.assign(ids.begin(), ids.end());
  } else {
    c.y.resize(rows.size() * 2);
    shard.gather_targets(rows, c.y);
  }
  for (int64_t r : rows) c.rows.push_back(shard.begin() + r);
  return c;
}

std::vector<Copied> run_epoch(BatchPipeline& pipe, int64_t epoch) {
  std::vector<Copied> out;
  pipe.start_epoch(epoch);
  for (int64_t s = 0; s < pipe.steps_per_epoch(); ++s) out.push_back(copy_batch(pipe.next()));
  return out;
}

TEST(Pipeline, MemoryEqualsShardSamplerGather) {
  TempFolder dir;
  struct Case {
    int64_t n, num_rows;
    int world, rank;
    int64_t b;
    bool u8, ids;
  };
  const Case cases[] = {{100, 100, 1, 0, 8, true, true},  {101, 101, 3, 2, 7, true, true},
                        {37, 37, 4, 1, 4, false, false},  {50, 50, 2, 1, 25, true, false},
                        {120, 101, 3, 0, 5, false, true}, {64, 64, 1, 0, 64, true, true}};
  for (const Case& c : cases) {
    FileShape f;
    f.n = c.n;
    f.u8 = c.u8;
    f.ids = c.ids;
    const DatasetSpec spec = write_file(dir, f, "m" + std::to_string(c.n) + ".h5");
    const Normalization norm = channel_norm();
    for (bool shuffle : {true, false}) {
      SCOPED_TRACE(testing::Message() << "N=" << c.n << " rows=" << c.num_rows << " P=" << c.world
                                      << " r=" << c.rank << " b=" << c.b << " shuffle=" << shuffle);
      PipelineOptions opt{.batch_size = c.b, .seed = 42, .shuffle = shuffle, .augment = {}};
      BatchPipeline pipe(spec, c.num_rows, c.world, c.rank, norm, opt);
      const ShardSampler sampler(c.num_rows, c.world, c.rank, c.b, 42, shuffle);
      ASSERT_EQ(pipe.mode(), PipelineMode::kMemory);
      ASSERT_EQ(pipe.steps_per_epoch(), sampler.steps_per_epoch());
      ASSERT_EQ(pipe.shard().begin, sampler.shard().begin);
      const Shard shard = Shard::load(spec, sampler.shard().begin, sampler.shard().end);
      for (int64_t epoch : {0, 1}) {
        const auto order = sampler.epoch_order(epoch);
        const auto got = run_epoch(pipe, epoch);
        for (size_t s = 0; s < got.size(); ++s) {
          const auto want = gathered(shard, std::span(order).subspan(s * c.b, c.b), norm);
          ASSERT_EQ(got[s].x, want.x) << "epoch " << epoch << " step " << s;
          ASSERT_EQ(got[s].y, want.y) << "epoch " << epoch << " step " << s;
        }
      }
    }
  }
}

// 600 rows, 36 bytes a row, chunks of 10 rows; rank 1 of 2 owns [300, 600).
struct StreamSetup {
  FileShape f{.n = 600, .sample = {2, 4, 4}, .u8 = true, .ids = true, .chunk = 10};
  int64_t b = 16;
  // 4 slots x 16 x (32 * 4 + 4) bytes + a 60-row shuffle buffer of 36 bytes.
  size_t bound = 4 * 16 * 132 + 60 * 36;
  PipelineOptions options(uint64_t seed, bool shuffle = true) const {
    return {.batch_size = b,
            .seed = seed,
            .shuffle = shuffle,
            .memory_bytes = bound,
            .prefetch = 2,
            .augment = {}};
  }
};

TEST(Pipeline, StreamEpochsAreExactShuffledAndDeterministic) {
  TempFolder dir;
  const StreamSetup st;
  const DatasetSpec spec = write_file(dir, st.f, "s.h5");
  const Normalization norm = channel_norm();
  const Shard shard = Shard::load(spec, 300, 600);
  BatchPipeline pipe(spec, 600, 2, 1, norm, st.options(7));
  BatchPipeline twin(spec, 600, 2, 1, norm, st.options(7));
  BatchPipeline other(spec, 600, 2, 1, norm, st.options(8));
  ASSERT_EQ(pipe.mode(), PipelineMode::kStream);
  EXPECT_LE(pipe.resident_bytes(), st.bound);
  EXPECT_GE(pipe.resident_bytes(), st.bound - 36);
  ASSERT_EQ(pipe.steps_per_epoch(), 300 / 16);
  std::vector<std::vector<int64_t>> epochs;
  int64_t first_batch_max = 0;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    const auto got = run_epoch(pipe, epoch);
    std::vector<int64_t> rows;
    for (const Copied& c : got) {
      ASSERT_EQ(c.rows.size(), 16u);
      for (int64_t r : c.rows) ASSERT_TRUE(r >= 300 && r < 600) << r;
      std::vector<int64_t> local;
      for (int64_t r : c.rows) local.push_back(r - 300);
      ASSERT_EQ(c.x, gathered(shard, local, norm).x) << "features do not match their labels";
      rows.insert(rows.end(), c.rows.begin(), c.rows.end());
    }
    EXPECT_EQ(rows.size(), 18u * 16u);
    EXPECT_EQ(std::set<int64_t>(rows.begin(), rows.end()).size(), rows.size()) << "duplicates";
    // Shuffled across pieces: the first batch spans several chunks of 10 rows.
    std::set<int64_t> pieces;
    for (int64_t r : got[0].rows) pieces.insert(r / 10);
    EXPECT_GE(pieces.size(), 4u);
    // The pieces are read in a shuffled order: the 60-row buffer's first fill
    // is not the first 60 rows of the shard.
    first_batch_max =
        std::max(first_batch_max, *std::max_element(got[0].rows.begin(), got[0].rows.end()));
    const auto same = run_epoch(twin, epoch);
    for (size_t s = 0; s < got.size(); ++s) {
      ASSERT_EQ(same[s].rows, got[s].rows);
      ASSERT_EQ(same[s].x, got[s].x);
    }
    std::vector<int64_t> other_rows;
    for (const Copied& c : run_epoch(other, epoch)) {
      other_rows.insert(other_rows.end(), c.rows.begin(), c.rows.end());
    }
    EXPECT_NE(other_rows, rows) << "another seed gave the same order";
    epochs.push_back(rows);
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  EXPECT_GE(first_batch_max, 300 + 60 + 10);
}

TEST(Pipeline, UnshuffledStreamEqualsMemory) {
  TempFolder dir;
  for (bool u8 : {true, false}) {
    StreamSetup st;
    st.f.u8 = u8;
    st.f.ids = !u8;  // also float features with (N, 2) targets
    st.bound = u8 ? st.bound : 4 * 16 * (32 * 4 + 8) + 40 * (32 * 4 + 8);
    const DatasetSpec spec = write_file(dir, st.f, u8 ? "u.h5" : "f.h5");
    BatchPipeline stream(spec, 600, 2, 1, channel_norm(), st.options(3, false));
    PipelineOptions whole = st.options(3, false);
    whole.memory_bytes = 0;
    BatchPipeline memory(spec, 600, 2, 1, channel_norm(), whole);
    ASSERT_EQ(stream.mode(), PipelineMode::kStream);
    EXPECT_LE(stream.resident_bytes(), st.bound);
    for (int64_t epoch : {0, 1, 2, 5}) {
      const auto a = run_epoch(stream, epoch);
      const auto b = run_epoch(memory, epoch);
      for (size_t s = 0; s < a.size(); ++s) {
        ASSERT_EQ(a[s].x, b[s].x) << "u8=" << u8 << " epoch " << epoch << " step " << s;
        ASSERT_EQ(a[s].y, b[s].y) << "u8=" << u8 << " epoch " << epoch << " step " << s;
      }
    }
  }
}

TEST(Pipeline, ChecksItsArguments) {
  TempFolder dir;
  const StreamSetup st;
  const DatasetSpec spec = write_file(dir, st.f, "a.h5");
  PipelineOptions tiny = st.options(1);
  tiny.memory_bytes = 4 * 16 * 132 + 16 * 36;  // room for one batch of rows only
  EXPECT_TRUE(contains_all(error_of([&] { BatchPipeline p(spec, 600, 2, 1, {}, tiny); }),
                           {spec.path, "exceeds memory_bytes", "expected memory_bytes >= "}));
  DatasetSpec wrong = spec;
  wrong.labels = "/nope";
  EXPECT_TRUE(contains_all(error_of([&] { BatchPipeline p(wrong, 600, 2, 1, {}, st.options(1)); }),
                           {spec.path, "/nope"}));
  EXPECT_TRUE(contains_all(error_of([&] { BatchPipeline p(spec, 601, 2, 1, {}, st.options(1)); }),
                           {"num_rows 601", "<= 600"}));
  Normalization bad;
  bad.mean = {0, 0, 0};
  EXPECT_TRUE(contains_all(error_of([&] { BatchPipeline p(spec, 600, 1, 0, bad, {}); }),
                           {"mean has 3 values", "expected 1 or 2"}));
  BatchPipeline pipe(spec, 600, 1, 0, {}, {.batch_size = 100, .augment = {}});
  EXPECT_TRUE(contains_all(error_of([&] { pipe.next(); }), {"before start_epoch"}));
  run_epoch(pipe, 0);
  EXPECT_TRUE(contains_all(error_of([&] { pipe.next(); }), {"after the 6 batches of epoch 0"}));
  EXPECT_TRUE(contains_all(error_of([&] { pipe.start_epoch(0); }), {"increasing order"}));
}

TEST(Pipeline, EarlyStopAndDestructionDoNotHang) {
  TempFolder dir;
  const StreamSetup st;
  const DatasetSpec spec = write_file(dir, st.f, "e.h5");
  const int threads_before = thread_count();
  within_deadline([&] {
    for (size_t bound : {size_t{0}, st.bound}) {
      for (int taken : {0, 1, 5}) {  // never started, one batch, mid-epoch
        PipelineOptions opt = st.options(1);
        opt.memory_bytes = bound;
        opt.prefetch = 1;
        BatchPipeline pipe(spec, 600, 2, 0, {}, opt);
        if (taken > 0) pipe.start_epoch(0);
        for (int i = 0; i < taken; ++i) pipe.next();
      }
    }
  });
  // A joined thread can stay listed for a moment while the kernel reaps it.
  for (int i = 0; i < 100 && thread_count() != threads_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(thread_count(), threads_before) << "a pipeline thread outlived its pipeline";
}

TEST(Pipeline, AbandonedEpochIsDroppedAndBatchesStayValidForOneMoreCall) {
  TempFolder dir;
  const StreamSetup st;
  const DatasetSpec spec = write_file(dir, st.f, "v.h5");
  within_deadline([&] {
    PipelineOptions opt{.batch_size = 16, .seed = 5, .prefetch = 1, .augment = {}};
    BatchPipeline pipe(spec, 600, 2, 1, {}, opt);
    BatchPipeline ref(spec, 600, 2, 1, {}, opt);
    pipe.start_epoch(0);
    pipe.next();
    pipe.next();
    const auto want = run_epoch(ref, 3);  // epoch 0 abandoned after 2 batches, 3 resumes
    pipe.start_epoch(3);
    const HostBatch* previous = nullptr;
    Copied previous_copy;
    for (size_t s = 0; s < want.size(); ++s) {
      const HostBatch& batch = pipe.next();
      // Give the thread time to fill every free slot, then check the batch of
      // the previous call is untouched.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      if (previous != nullptr) {
        ASSERT_EQ(copy_batch(*previous).x, previous_copy.x) << s;
      }
      ASSERT_EQ(copy_batch(batch).rows, want[s].rows) << s;
      previous = &batch;
      previous_copy = copy_batch(batch);
    }
  });
}

// The trainer queues each batch's copy to the device and moves on: the copy
// runs later (the host is ahead of the device). A fake device runs each
// queued copy 5 ms after it was queued, in order, and checks that the slot
// still holds what the consumer saw; the pipeline's thread must wait for it
// (WaitDeviceReads) before refilling a slot.
TEST(Pipeline, SlotIsRefilledOnlyAfterTheDeviceReadIt) {
  TempFolder dir;
  const StreamSetup st;
  const DatasetSpec spec = write_file(dir, st.f, "d.h5");
  struct Queued {
    const HostBatch* batch;
    Copied seen;
    std::chrono::steady_clock::time_point at;
  };
  struct FakeDevice {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<Queued> queue;
    std::multiset<const void*> in_flight;  // x of the slots with a copy queued
    int waits = 0, blocked = 0, overwritten = 0;
    bool stop = false;
  } dev;
  within_deadline([&] {
    PipelineOptions opt{.batch_size = 16, .seed = 5, .prefetch = 1, .augment = {}};
    const WaitDeviceReads wait_reads = [&](const void* host) {
      std::unique_lock lock(dev.mutex);
      ++dev.waits;
      if (dev.in_flight.count(host) > 0) ++dev.blocked;
      dev.cv.wait(lock, [&] { return dev.in_flight.count(host) == 0; });
    };
    std::thread device([&] {
      std::unique_lock lock(dev.mutex);
      for (;;) {
        dev.cv.wait(lock, [&] { return dev.stop || !dev.queue.empty(); });
        if (dev.queue.empty()) return;
        const auto at = dev.queue.front().at + std::chrono::milliseconds(5);
        lock.unlock();
        std::this_thread::sleep_until(at);
        lock.lock();
        const Queued q = dev.queue.front();
        dev.queue.pop_front();
        if (copy_batch(*q.batch).x != q.seen.x) ++dev.overwritten;  // refilled mid-copy
        dev.in_flight.erase(dev.in_flight.find(q.batch->x.raw()));
        dev.cv.notify_all();
      }
    });
    BatchPipeline pipe(spec, 600, 2, 1, {}, opt, wait_reads);
    BatchPipeline ref(spec, 600, 2, 1, {}, opt);
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
      const auto want = run_epoch(ref, epoch);
      pipe.start_epoch(epoch);
      for (size_t s = 0; s < want.size(); ++s) {
        const HostBatch& batch = pipe.next();
        Copied seen = copy_batch(batch);
        EXPECT_EQ(seen.rows, want[s].rows) << "epoch " << epoch << " step " << s;
        std::lock_guard lock(dev.mutex);
        dev.in_flight.insert(batch.x.raw());
        dev.queue.push_back({&batch, std::move(seen), std::chrono::steady_clock::now()});
        dev.cv.notify_all();
      }
    }
    {
      std::lock_guard lock(dev.mutex);
      dev.stop = true;
      dev.cv.notify_all();
    }
    device.join();
  });
  EXPECT_EQ(dev.overwritten, 0);
  EXPECT_GT(dev.blocked, 0) << "the test never had the thread wait for a copy";
  EXPECT_GT(dev.waits, 0);
}

TEST(Pipeline, ReadErrorsInTheThreadNameTheFile) {
  TempFolder dir;
  const StreamSetup st;
  // Removed after construction: the thread opens it at the first epoch.
  const DatasetSpec gone = write_file(dir, st.f, "gone.h5");
  within_deadline([&] {
    BatchPipeline pipe(gone, 600, 2, 1, {}, st.options(1));
    std::filesystem::remove(gone.path);
    pipe.start_epoch(0);
    EXPECT_TRUE(contains_all(error_of([&] { pipe.next(); }), {gone.path, "no such file"}));
    EXPECT_TRUE(contains_all(error_of([&] { pipe.next(); }), {gone.path}));  // stays failed
  });
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) GTEST_SKIP() << "needs gzip chunks";
  // Truncated while streaming: unread chunks now decompress from zeros.
  FileShape big = st.f;
  big.n = 4000;
  const DatasetSpec cut = write_file(dir, big, "cut.h5");
  within_deadline([&] {
    BatchPipeline pipe(cut, 4000, 1, 0, {}, st.options(1));
    pipe.start_epoch(0);
    pipe.next();
    std::filesystem::resize_file(cut.path, 4096);
    const std::string message = error_of([&] {
      for (int64_t s = 1; s < pipe.steps_per_epoch(); ++s) pipe.next();
    });
    EXPECT_TRUE(contains_all(message, {cut.path, "reading rows"}));
  });
}

}  // namespace
}  // namespace lockstep::io
