// lockstep comm-bench: the cost of an all-reduce over the path the trainer's
// gradient buckets take on CPU ranks (comm::MpiCommunicator's
// allreduce_compressed_async: an in-place MPI_Iallreduce, as float32 or as
// bf16/fp16 values, averaged as comm/reducer.cpp averages; then
// Request::wait()). Its figures calibrate the scaling model's per-message
// latency and link bandwidth (README "Measuring the all-reduce").
//
// Per size: one untimed all-reduce whose result is checked exactly (every
// rank's buffer holds rank + 1, so the sum is n(n+1)/2), the warm-up
// all-reduces, a barrier, then `iters` times {busy gap; start; wait}. The
// gap spins on the CPU rather than sleeping: training's compute occupies the
// core, and MPI moves a nonblocking collective only inside MPI calls, so a
// sleeping rank would flatter the link. The period (first start to last end,
// per iteration, less the gap) is the all-reduce's cost on the critical path
// of a back-to-back series, which is what a training step sees; each op's own
// time (start to wait's return) is reported beside it.

#include <boost/program_options.hpp>

#include <algorithm>
#include <bit>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/mpi.hpp"
#include "io/predictions.hpp"
#include "launch/commands.hpp"

namespace po = boost::program_options;

namespace lockstep::launch {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::vector<int64_t> floats;  // per message size, in order
  int iters = 20;
  int warmup = 3;
  double gap_s = 0;
  comm::WireType wire = comm::WireType::kF32;
  std::string out;  // empty: JSON lines on stdout
};

// The largest message accepted (a buffer this size is allocated per rank).
constexpr int64_t kMaxBytes = int64_t{64} << 30;

// "64K" -> 65536 (binary suffixes K, M, G, either case); throws naming --sizes
// and the item of `list` that is wrong.
int64_t parse_bytes(const std::string& text, const std::string& list) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string suffix = text.substr(digits);
  int shift = -1;
  if (suffix.empty()) shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  if (suffix == "M" || suffix == "m") shift = 20;
  if (suffix == "G" || suffix == "g") shift = 30;
  LOCKSTEP_CHECK(digits > 0 && shift >= 0,
                 "comm-bench --sizes: expected a positive number of bytes with an optional K, M or "
                 "G suffix (64K = 65536), got '"
                     << text << "' in '" << list << "'");
  // Compared before shifting, so that no size text can overflow.
  const int64_t number = digits <= 12 ? std::stoll(text.substr(0, digits)) : kMaxBytes + 1;
  LOCKSTEP_CHECK(number > 0, "comm-bench --sizes: expected a size > 0, got '" << text << "' in '"
                                                                              << list << "'");
  LOCKSTEP_CHECK(number <= (kMaxBytes >> shift),
                 "comm-bench --sizes: expected at most 64G per message, got '" << text << "' in '"
                                                                               << list << "'");
  const int64_t bytes = number << shift;
  return bytes;
}

// Comma-separated sizes -> float counts (rounded down, at least one float).
std::vector<int64_t> parse_sizes(const std::string& list) {
  std::vector<int64_t> floats;
  for (size_t at = 0;; ++at) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string item = list.substr(at, comma - at);
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    const std::string text = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    floats.push_back(std::max<int64_t>(1, parse_bytes(text, list) / int64_t{sizeof(float)}));
    if (comma == list.size()) return floats;
    at = comma;
  }
}

// Keeps the core busy for `seconds` (compute, not a sleep: see the header).
void spin_for(double seconds) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < until) {
  }
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::unique_ptr<comm::Request> start(comm::MpiCommunicator& comm, std::span<float> data,
                                     comm::WireType wire) {
  // kAvg: the gradient buckets are averaged (comm/reducer.cpp).
  return comm.allreduce_compressed_async(data, comm::ReduceOp::kAvg, wire);
}

// One all-reduce of rank + 1 everywhere, checked exactly on every rank. The
// average is the sum n(n+1)/2, which the wire type holds exactly while it
// fits its significand (bf16: n <= 22, fp16: n <= 63, fp32: n < 5792),
// times 1/n in float32 (as the communicator finishes it); for more ranks the
// 16-bit partial sums round, and the check allows (n-1) roundings.
void check_result(comm::MpiCommunicator& comm, std::span<float> data, comm::WireType wire) {
  const int n = comm.size();
  std::fill(data.begin(), data.end(), static_cast<float>(comm.rank() + 1));
  start(comm, data, wire)->wait();
  const double sum = 0.5 * n * (n + 1);
  const int significand = wire == comm::WireType::kF32    ? 24
                          : wire == comm::WireType::kBF16 ? 8
                                                          : 11;
  const bool exact = sum <= std::ldexp(1.0, significand);
  const float expected = static_cast<float>(sum) * (1.0f / static_cast<float>(n));
  const double tolerance = exact ? 0 : (n - 1) * std::ldexp(1.0, -significand) * expected;
  comm::check_on_all_ranks(comm, [&] {
    for (size_t i = 0; i < data.size(); ++i) {
      LOCKSTEP_CHECK(std::abs(static_cast<double>(data[i]) - expected) <= tolerance,
                     "comm-bench: wrong all-reduce result: element "
                         << i << " of " << data.size() << " (" << to_string(wire) << ") is "
                         << data[i] << ", expected " << expected << " (the average over " << n
                         << " ranks of rank + 1)");
    }
  });
}

// This rank's period, then each timed op's seconds.
std::vector<double> measure(comm::MpiCommunicator& comm, std::span<float> data,
                            const BenchOptions& o) {
  for (int i = 0; i < o.warmup; ++i) start(comm, data, o.wire)->wait();
  comm.barrier();
  std::vector<double> figures(1 + o.iters);
  const Clock::time_point first = Clock::now();
  Clock::time_point last = first;
  for (int i = 0; i < o.iters; ++i) {
    spin_for(o.gap_s);
    const Clock::time_point t0 = Clock::now();
    std::unique_ptr<comm::Request> request = start(comm, data, o.wire);
    request->wait();
    last = Clock::now();
    figures[1 + i] = seconds_between(t0, last);
  }
  // The spin ends at or after its deadline, so this is >= 0 but for the clock's grain.
  figures[0] = std::max(0.0, seconds_between(first, last) / o.iters - o.gap_s);
  return figures;
}

// Every rank's figures (measure()'s layout) -> the size's JSON line (rank 0).
nlohmann::ordered_json summarize(const std::vector<double>& all, int ranks, int hosts,
                                 int64_t floats, const BenchOptions& o) {
  const size_t per_rank = 1 + o.iters;
  double period = 0;
  std::vector<double> ops;
  for (int r = 0; r < ranks; ++r) {
    period = std::max(period, all[r * per_rank]);
    ops.insert(ops.end(), all.begin() + r * per_rank + 1, all.begin() + (r + 1) * per_rank);
  }
  std::sort(ops.begin(), ops.end());
  const size_t mid = ops.size() / 2;
  const double median = ops.size() % 2 ? ops[mid] : 0.5 * (ops[mid - 1] + ops[mid]);
  const int64_t bytes = floats * (o.wire == comm::WireType::kF32 ? 4 : 2);
  const double algbw = period > 0 ? static_cast<double>(bytes) / period / 1e9 : 0.0;
  const double busbw = algbw * 2.0 * (ranks - 1) / ranks;  // nccl-tests' all-reduce bus bandwidth
  return {{"bytes", bytes},
          {"floats", floats},
          {"ranks", ranks},
          {"hosts", hosts},
          {"grad_dtype", to_string(o.wire)},
          {"iters", o.iters},
          {"warmup", o.warmup},
          {"gap_s", o.gap_s},
          {"period_s", period},
          {"op_median_s", median},
          {"op_min_s", ops.front()},
          {"op_max_s", ops.back()},
          {"algbw_gbs", algbw},
          {"busbw_gbs", busbw}};
}

// The table on stdout with --out: milliseconds and GB/s, one row per size.
constexpr const char* kRowFormat = "%12lld %6d %5d %5s %11.4f %11.4f %11.4f %11.4f %10.3f %10.3f";

std::string table_header() {
  char line[160];
  std::snprintf(line, sizeof line, "%12s %6s %5s %5s %11s %11s %11s %11s %10s %10s", "bytes",
                "ranks", "hosts", "dtype", "period_ms", "op_med_ms", "op_min_ms", "op_max_ms",
                "algbw_GB/s", "busbw_GB/s");
  return line;
}

std::string table_row(const nlohmann::ordered_json& j) {
  char line[160];
  std::snprintf(line, sizeof line, kRowFormat, j["bytes"].get<long long>(), j["ranks"].get<int>(),
                j["hosts"].get<int>(), j["grad_dtype"].get<std::string>().c_str(),
                1e3 * j["period_s"].get<double>(), 1e3 * j["op_median_s"].get<double>(),
                1e3 * j["op_min_s"].get<double>(), 1e3 * j["op_max_s"].get<double>(),
                j["algbw_gbs"].get<double>(), j["busbw_gbs"].get<double>());
  return line;
}

// Options -> BenchOptions; throws Error naming the option (every rank parses
// the same arguments, so every rank throws the same).
BenchOptions to_options(const po::variables_map& vm) {
  BenchOptions o;
  o.floats = parse_sizes(vm["sizes"].as<std::string>());
  o.iters = vm["iters"].as<int>();
  LOCKSTEP_CHECK(o.iters >= 1, "comm-bench --iters: expected >= 1, got " << o.iters);
  o.warmup = vm["warmup"].as<int>();
  LOCKSTEP_CHECK(o.warmup >= 0, "comm-bench --warmup: expected >= 0, got " << o.warmup);
  const double gap_ms = vm["gap-ms"].as<double>();
  LOCKSTEP_CHECK(std::isfinite(gap_ms) && gap_ms >= 0,
                 "comm-bench --gap-ms: expected a finite number >= 0, got " << gap_ms);
  o.gap_s = gap_ms / 1e3;
  const std::string wire = vm["grad-dtype"].as<std::string>();
  try {
    o.wire = comm::parse_wire_type(wire);
  } catch (const Error&) {  // its message names dist.grad_dtype
    LOCKSTEP_FAIL("comm-bench --grad-dtype: expected fp32, bf16 or fp16, got '" << wire << "'");
  }
  if (vm.count("out")) o.out = vm["out"].as<std::string>();
  return o;
}

po::options_description describe_options() {
  po::options_description desc(
      "lockstep comm-bench: the cost of an all-reduce over lockstep's gradient path on CPU ranks\n"
      "(MPI_Iallreduce in place, as float32 or bf16/fp16, then a wait), over message sizes.\n"
      "CPU ranks and MPI only (no --backend; on GPUs, NCCL's nccl-tests measure NCCL).\n\n"
      "Usage: mpirun -np 2 lockstep comm-bench [options]\n\n"
      "One JSON line per size: bytes (per rank, as sent), floats, ranks, hosts, grad_dtype,\n"
      "iters, warmup, gap_s, period_s (the slowest rank's time per all-reduce in a\n"
      "back-to-back series, less the gap), op_median_s / op_min_s / op_max_s (start to\n"
      "wait, all ranks and iterations), algbw_gbs (bytes / period) and busbw_gbs (algbw x\n"
      "2(n-1)/n). Without --out the lines go to stdout; with --out to the file, and a\n"
      "table to stdout. The first all-reduce of each size is untimed and its result is\n"
      "checked exactly.\n\nOptions");
  desc.add_options()("help,h", "show this help")(
      "sizes", po::value<std::string>()->default_value("4K,64K,256K,1M,4M,16M"),
      "message sizes in bytes of float32 payload, comma-separated, with K, M, G suffixes "
      "(64K = 65536); rounded down to whole floats")("iters", po::value<int>()->default_value(20),
                                                     "timed all-reduces per size")(
      "warmup", po::value<int>()->default_value(3), "untimed all-reduces per size before them")(
      "gap-ms", po::value<double>()->default_value(0),
      "a busy compute gap (spinning, as a training step computes) before every all-reduce, in "
      "milliseconds; a rate-limited link refills during it")(
      "grad-dtype", po::value<std::string>()->default_value("fp32"),
      "the wire type, as dist.grad_dtype: fp32, bf16 or fp16")(
      "out", po::value<std::string>(), "write the JSON lines to this file (rank 0; atomically)");
  return desc;
}

// A message buffer on every rank, or one error on every rank.
std::vector<float> allocate(comm::MpiCommunicator& comm, int64_t floats) {
  std::vector<float> buffer;
  comm::check_on_all_ranks(comm, [&] {
    try {
      buffer.resize(static_cast<size_t>(floats));
    } catch (const std::bad_alloc&) {
      LOCKSTEP_FAIL("comm-bench --sizes: cannot allocate a message of "
                    << floats * int64_t{sizeof(float)} << " bytes on rank " << comm.rank()
                    << "; expected sizes that fit in memory");
    }
  });
  return buffer;
}

// Every rank's figures in rank order, on every rank (doubles sent as their bits).
std::vector<double> gather_figures(comm::MpiCommunicator& comm, const std::vector<double>& mine) {
  std::vector<uint64_t> bits(mine.size()), all_bits(mine.size() * comm.size());
  std::transform(mine.begin(), mine.end(), bits.begin(),
                 [](double v) { return std::bit_cast<uint64_t>(v); });
  comm.allgather(bits, all_bits);
  std::vector<double> all(all_bits.size());
  std::transform(all_bits.begin(), all_bits.end(), all.begin(),
                 [](uint64_t v) { return std::bit_cast<double>(v); });
  return all;
}

}  // namespace

int run_comm_bench(int argc, char** argv, comm::MpiSession& mpi) {
  const po::options_description desc = describe_options();
  po::variables_map vm;
  BenchOptions o;
  try {
    // No positional arguments: a stray word is an error, not ignored.
    po::store(po::command_line_parser(argc, argv)
                  .options(desc)
                  .positional(po::positional_options_description{})
                  .run(),
              vm);
    if (vm.count("help")) {
      if (mpi.world_rank() == 0) std::cout << desc << std::endl;
      return 0;
    }
    o = to_options(vm);
  } catch (const std::exception& e) {  // po::error or Error, the same on every rank
    throw comm::CollectiveError(std::string(e.what()).starts_with("comm-bench")
                                    ? e.what()
                                    : std::string("comm-bench: ") + e.what() +
                                          " (see lockstep comm-bench --help)");
  }
  comm::MpiCommunicator comm;
  const bool root = comm.rank() == 0;
  if (!o.out.empty()) {
    comm::check_on_all_ranks(comm, [&] {
      if (!root) return;
      const std::filesystem::path dir = std::filesystem::absolute(o.out).parent_path();
      LOCKSTEP_CHECK(std::filesystem::is_directory(dir),
                     "comm-bench --out '"
                         << o.out << "': expected an existing folder, there is no '" << dir.string()
                         << "'");
    });
    if (root) std::printf("%s\n", table_header().c_str());
  }
  std::string lines;
  for (const int64_t floats : o.floats) {
    std::vector<float> buffer = allocate(comm, floats);
    check_result(comm, buffer, o.wire);
    const std::vector<double> all = gather_figures(comm, measure(comm, buffer, o));
    if (!root) continue;
    const nlohmann::ordered_json j = summarize(all, comm.size(), mpi.layout().hosts, floats, o);
    if (o.out.empty()) {
      std::printf("%s\n", j.dump().c_str());
    } else {
      lines += j.dump() + "\n";
      std::printf("%s\n", table_row(j).c_str());
    }
    std::fflush(stdout);
  }
  if (!o.out.empty()) {
    comm::check_on_all_ranks(comm, [&] {
      if (root) io::write_text_atomically(o.out, "comm-bench output", lines);
    });
  }
  return 0;
}

}  // namespace lockstep::launch
