// Input pipeline throughput (io::BatchPipeline) against a plain sequential read
// of the same HDF5 file, one rank, on the CPU:
//   (a) H5Dread of the features and labels in chunk-sized hyperslabs, nothing else;
//   (b) kMemory: one epoch (shuffled gather + normalisation into the batch
//       slots), the shard already loaded; and load (Shard::load) + one epoch;
//   (c) kStream with a memory bound of 1/4 of the shard: one epoch.
// The consumer only touches each batch, so (b) and (c) measure how fast the
// background thread produces. Without --file the dataset is generated once in
// /tmp (image-like uint8 (1,28,28): a bright disc on zeros, so gzip works as on
// MNIST) with io::write_dataset and reused by later runs. The file is warm in
// the page cache (dropping it needs root and is not done): the figures measure
// HDF5 decompression and copying, not the disk.
// Prints a markdown table (median of --reps) and one machine-readable line:
//   - raw: IO throughput n=... seq_sps=... mem_sps=... mem_load_sps=... stream_sps=...

#include <hdf5.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "io/dataset.hpp"
#include "io/hdf5.hpp"
#include "io/pipeline.hpp"

namespace lockstep::bench {
namespace {

struct Flags {
  std::string file;  // empty: generate /tmp/lockstep_bench_io_<n>.h5
  int64_t n = 200000;
  int64_t batch = 256;
  int reps = 3;
  int prefetch = 2;
};

const char* const kUsage =
    "usage: bench_io_throughput [--file PATH] [--n ROWS] [--batch N] [--reps N] [--prefetch N]\n";

bool parse_flags(int argc, char** argv, Flags& f) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (arg == "--file") {
      f.file = value;
    } else if (arg == "--n") {
      f.n = std::strtoll(value.c_str(), nullptr, 10);
    } else if (arg == "--batch") {
      f.batch = std::strtoll(value.c_str(), nullptr, 10);
    } else if (arg == "--reps") {
      f.reps = std::atoi(value.c_str());
    } else if (arg == "--prefetch") {
      f.prefetch = std::atoi(value.c_str());
    } else {
      return false;
    }
  }
  return f.n > 0 && f.batch > 0 && f.reps > 0 && f.prefetch > 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

void generate(const std::string& path, int64_t n) {
  constexpr int64_t kSide = 28;
  io::DatasetArrays a;
  a.sample_shape = {1, kSide, kSide};
  a.feature_type = io::FeatureType::kUint8;
  a.features_u8.resize(static_cast<size_t>(n * kSide * kSide));
  a.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(hash_keys({2024, static_cast<uint64_t>(i)}));
    const auto cx = static_cast<int64_t>(6 + rng.below(16));
    const auto cy = static_cast<int64_t>(6 + rng.below(16));
    const auto r2 = static_cast<int64_t>(16 + rng.below(84));
    uint8_t* px = a.features_u8.data() + i * kSide * kSide;
    for (int64_t y = 0; y < kSide; ++y) {
      for (int64_t x = 0; x < kSide; ++x) {
        const int64_t d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        px[y * kSide + x] =
            d2 < r2 ? static_cast<uint8_t>(255 - 2 * d2 - static_cast<int64_t>(rng.below(32))) : 0;
      }
    }
    a.labels[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(10));
  }
  io::write_dataset({path}, a);
}

// (a): every row of features and labels in hyperslabs of one features chunk.
void sequential_read(const std::string& path, const io::DatasetInfo& info) {
  namespace h5 = io::h5;
  h5::File file{h5::open_read_only(path, path)};
  h5::Dataset features{LOCKSTEP_HDF5_CHECK(H5Dopen2(file.get(), "/features", H5P_DEFAULT))};
  h5::Dataset labels{LOCKSTEP_HDF5_CHECK(H5Dopen2(file.get(), "/labels", H5P_DEFAULT))};
  h5::PropList dcpl{LOCKSTEP_HDF5_CHECK(H5Dget_create_plist(features.get()))};
  const int rank = static_cast<int>(info.sample_shape.size()) + 1;
  std::vector<hsize_t> dims(info.sample_shape.begin(), info.sample_shape.end());
  dims.insert(dims.begin(), static_cast<hsize_t>(info.num_samples));
  std::vector<hsize_t> chunk(dims.size(), 0);
  hsize_t rows = 1024;
  if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
    LOCKSTEP_HDF5_CHECK(H5Pget_chunk(dcpl.get(), rank, chunk.data()));
    rows = chunk[0];
  }
  std::vector<uint8_t> fbuf(static_cast<size_t>(rows * static_cast<hsize_t>(info.sample_size())));
  std::vector<int32_t> lbuf(static_cast<size_t>(rows));
  const auto read = [](hid_t ds, hid_t type, std::vector<hsize_t> shape, hsize_t begin,
                       hsize_t count, void* out) {
    h5::Dataspace fspace{LOCKSTEP_HDF5_CHECK(H5Dget_space(ds))};
    std::vector<hsize_t> start(shape.size(), 0);
    start[0] = begin;
    shape[0] = count;
    LOCKSTEP_HDF5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                            shape.data(), nullptr));
    h5::Dataspace mspace{LOCKSTEP_HDF5_CHECK(
        H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr))};
    LOCKSTEP_HDF5_CHECK(H5Dread(ds, type, mspace.get(), fspace.get(), H5P_DEFAULT, out));
  };
  for (hsize_t b = 0; b < dims[0]; b += rows) {
    const hsize_t count = std::min(rows, dims[0] - b);
    read(features.get(), H5T_NATIVE_UINT8, dims, b, count, fbuf.data());
    read(labels.get(), H5T_NATIVE_INT32, {dims[0]}, b, count, lbuf.data());
  }
}

// One epoch of `pipe` (start_epoch to the last next()); returns the seconds.
double consume_epoch(io::BatchPipeline& pipe, int64_t epoch, double& sink) {
  const auto t0 = std::chrono::steady_clock::now();
  pipe.start_epoch(epoch);
  for (int64_t s = 0; s < pipe.steps_per_epoch(); ++s) {
    const io::HostBatch& b = pipe.next();
    sink += b.x.data<float>()[0];
  }
  return seconds_since(t0);
}

int run(const Flags& flags) {
  std::string path = flags.file;
  bool generated = false;
  if (path.empty()) {
    path = "/tmp/lockstep_bench_io_" + std::to_string(flags.n) + ".h5";
    if (!std::filesystem::exists(path)) {
      const auto t0 = std::chrono::steady_clock::now();
      generate(path, flags.n);
      std::printf("generated %s in %.1f s\n", path.c_str(), seconds_since(t0));
      generated = true;
    }
  }
  const io::DatasetSpec spec{path};
  const io::DatasetInfo info = io::probe_dataset(spec);
  LOCKSTEP_CHECK(
      info.feature_type == io::FeatureType::kUint8 && info.label_kind == io::LabelKind::kClassIds,
      path << ": this benchmark expects uint8 features and class ids");
  const int64_t n = info.num_samples;
  const double row_bytes = static_cast<double>(info.sample_size()) + 4;  // file bytes per sample
  const auto shard_bytes = static_cast<size_t>(static_cast<double>(n) * row_bytes);
  io::PipelineOptions opt;
  opt.batch_size = flags.batch;
  opt.seed = 1;
  opt.prefetch = flags.prefetch;
  io::PipelineOptions stream_opt = opt;
  stream_opt.memory_bytes = shard_bytes / 4;

  std::vector<double> seq, mem, mem_load, stream, mem_wait, stream_wait;
  double sink = 0;
  int64_t used = 0;
  for (int r = 0; r < flags.reps; ++r) {  // alternate the three, reps times
    auto t0 = std::chrono::steady_clock::now();
    sequential_read(path, info);
    seq.push_back(seconds_since(t0));

    t0 = std::chrono::steady_clock::now();
    io::BatchPipeline memory(spec, n, 1, 0, io::Normalization{}, opt);
    const double load = seconds_since(t0);
    mem.push_back(consume_epoch(memory, r, sink));
    mem_load.push_back(load + mem.back());
    mem_wait.push_back(memory.wait_seconds());
    used = memory.steps_per_epoch() * flags.batch;

    t0 = std::chrono::steady_clock::now();
    io::BatchPipeline streaming(spec, n, 1, 0, io::Normalization{}, stream_opt);
    LOCKSTEP_CHECK(streaming.mode() == io::PipelineMode::kStream, "expected kStream");
    consume_epoch(streaming, r, sink);
    stream.push_back(seconds_since(t0));
    stream_wait.push_back(streaming.wait_seconds());
  }

  const double mb = 1e6;
  const double disk = static_cast<double>(std::filesystem::file_size(path)) / mb;
  std::printf(
      "- file: %s%s: %lld x (1,28,28) uint8 + int32 labels, %.1f MB of rows, %.1f MB on "
      "disk (io::write_dataset: ~1 MiB chunks, gzip)\n",
      path.c_str(), generated ? " (generated now)" : "", static_cast<long long>(n),
      static_cast<double>(n) * row_bytes / mb, disk);
  std::printf(
      "- the file is warm in the page cache (dropping it is not possible here): these are "
      "decompression + copy rates, not disk rates\n"
      "- 1 rank, batch %lld, prefetch %d, median of %d repetitions (a, b, c alternated); kStream "
      "bound %.1f MB (1/4 of the shard); the consumer only touches each batch, so (b) and (c) "
      "are the background thread's production rate\n\n",
      static_cast<long long>(flags.batch), flags.prefetch, flags.reps,
      static_cast<double>(stream_opt.memory_bytes) / mb);
  const double a = median(seq);
  const auto line = [&](const char* name, double secs, int64_t rows, double wait) {
    const double sps = static_cast<double>(rows) / secs;
    const double seq_sps = static_cast<double>(n) / a;
    std::printf("| %s | %.3f | %.0f | %.1f | %.2fx | %.3f |\n", name, secs, sps,
                sps * row_bytes / mb, sps / seq_sps, wait);
    return sps;
  };
  std::printf(
      "| measurement | seconds | samples/s | MB/s (file rows) | vs (a) | next() wait s |\n");
  std::printf("|---|---|---|---|---|---|\n");
  const double s_seq = line("(a) sequential H5Dread, chunk-sized hyperslabs", a, n, 0);
  const double s_mem =
      line("(b) kMemory, one epoch (shard in memory)", median(mem), used, median(mem_wait));
  const double s_mem_load =
      line("(b') kMemory, Shard::load + one epoch", median(mem_load), used, median(mem_wait));
  const double s_stream =
      line("(c) kStream, bound 1/4 shard, one epoch", median(stream), used, median(stream_wait));
  std::printf(
      "\n- raw: IO throughput n=%lld batch=%lld seq_sps=%.0f mem_sps=%.0f mem_load_sps=%.0f "
      "stream_sps=%.0f (checksum %g)\n",
      static_cast<long long>(n), static_cast<long long>(flags.batch), s_seq, s_mem, s_mem_load,
      s_stream, sink);
  return 0;
}

}  // namespace
}  // namespace lockstep::bench

int main(int argc, char** argv) {
  lockstep::bench::Flags flags;
  if (!lockstep::bench::parse_flags(argc, argv, flags)) {
    std::fputs(lockstep::bench::kUsage, stderr);
    return 2;
  }
  try {
    return lockstep::bench::run(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_io_throughput: %s\n", e.what());
    return 1;
  }
}
