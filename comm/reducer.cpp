#include "comm/reducer.hpp"

#include <algorithm>
#include <chrono>

#include "comm/watchdog.hpp"
#include "core/error.hpp"

namespace lockstep::comm {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Reducer::Reducer(Communicator& comm, std::span<float> grads,
                 const std::vector<std::pair<int64_t, int64_t>>& layer_ranges, size_t bucket_bytes,
                 bool progress, WireType wire)
    : comm_(comm),
      grads_(grads),
      lowest_done_(layer_ranges.size()),
      num_layers_(layer_ranges.size()) {
  LOCKSTEP_CHECK(bucket_bytes >= sizeof(float),
                 "reducer: expected a bucket size of at least 4 bytes, got " << bucket_bytes);
  const auto cap = static_cast<int64_t>(bucket_bytes / sizeof(float));
  int64_t prev_begin = static_cast<int64_t>(grads.size());
  Bucket open;
  bool has_open = false;
  for (size_t i = layer_ranges.size(); i-- > 0;) {
    const auto [begin, end] = layer_ranges[i];
    if (begin == end) continue;
    LOCKSTEP_CHECK(end == prev_begin && begin < end,
                   "reducer: layer " << i << " gradients [" << begin << ", " << end
                                     << ") are not contiguous with the layers after it");
    prev_begin = begin;
    if (has_open && open.end - begin > cap) {
      buckets_.push_back(std::move(open));
      has_open = false;
    }
    if (!has_open) {
      open = Bucket{};
      open.end = end;
      has_open = true;
    }
    open.begin = begin;
    open.first_layer = i;
  }
  if (has_open) buckets_.push_back(std::move(open));
  times_.resize(buckets_.size());
  progress_ = progress;
  wire_ = wire;
  LOCKSTEP_CHECK(prev_begin == 0, "reducer: the layer ranges do not start at slab element 0");
}

void Reducer::launch_ready() {
  while (next_launch_ < buckets_.size() && lowest_done_ <= buckets_[next_launch_].first_layer) {
    times_[next_launch_] = {now_s(), 0.0, true};
    Bucket& b = buckets_[next_launch_++];
    if (comm_.size() > 1 && !bounds_.empty()) {
      const auto me = static_cast<size_t>(comm_.rank());
      b.request = comm_.reduce_scatter_async(
          grads_.subspan(static_cast<size_t>(b.begin), static_cast<size_t>(b.end - b.begin)),
          shard_.subspan(static_cast<size_t>(b.shard_offset), static_cast<size_t>(b.counts[me])),
          b.counts, ReduceOp::kAvg);
    } else if (comm_.size() > 1) {
      b.request = comm_.allreduce_compressed_async(
          grads_.subspan(static_cast<size_t>(b.begin), static_cast<size_t>(b.end - b.begin)),
          ReduceOp::kAvg, wire_);
    }
  }
}

void Reducer::shard_into(std::span<float> shard, std::vector<int64_t> bounds) {
  LOCKSTEP_CHECK(bounds.size() == static_cast<size_t>(comm_.size()) + 1 && bounds.front() == 0 &&
                     bounds.back() == static_cast<int64_t>(grads_.size()),
                 "reducer: expected " << comm_.size() + 1 << " shard bounds from 0 to "
                                      << grads_.size());
  const auto me = static_cast<size_t>(comm_.rank());
  LOCKSTEP_CHECK(static_cast<int64_t>(shard.size()) == bounds[me + 1] - bounds[me],
                 "reducer: expected a shard of " << bounds[me + 1] - bounds[me] << " elements, got "
                                                 << shard.size());
  LOCKSTEP_CHECK(wire_ == WireType::kF32,
                 "dist.shard_optimizer with dist.grad_dtype = "
                     << to_string(wire_) << ": expected fp32 gradients (a sharded step "
                     << "reduce-scatters them in float32), got " << to_string(wire_));
  shard_ = shard;
  bounds_ = std::move(bounds);
  // Each bucket's pieces, once (the slices are contiguous in rank order).
  for (Bucket& b : buckets_) {
    b.counts.clear();
    for (size_t r = 0; r + 1 < bounds_.size(); ++r)
      b.counts.push_back(std::max<int64_t>(
          0, std::min(b.end, bounds_[r + 1]) - std::max(b.begin, bounds_[r])));
    b.shard_offset = std::clamp<int64_t>(b.begin - bounds_[me], 0,
                                         static_cast<int64_t>(shard_.size()));
  }
}

void Reducer::layer_done(size_t layer) {
  LOCKSTEP_CHECK(layer < num_layers_, "reducer: layer " << layer << " of " << num_layers_);
  if (layer < lowest_done_) lowest_done_ = layer;
  launch_ready();
  if (progress_) progress();
}

void Reducer::progress() {
  // Buckets complete in launch order on every backend; test the oldest first.
  while (next_complete_ < next_launch_) {
    Bucket& b = buckets_[next_complete_];
    if (b.request && !b.request->test()) return;
    times_[next_complete_].completed = now_s();
    ++next_complete_;
  }
}

void Reducer::finalize() {
  finalize_begin_ = now_s();
  lowest_done_ = 0;  // everything is done now
  launch_ready();
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    bool known = true;  // the completion time is the true one (see BucketTime)
    if (b.request) {
      const Watchdog::Scope scope(comm_.watchdog(), "allreduce", "gradient bucket",
                                  static_cast<int>(i + 1), static_cast<int>(buckets_.size()));
      if (i >= next_complete_ && !b.request->host_waits()) known = b.request->test();
      b.request->wait();
    }
    b.request.reset();
    if (i >= next_complete_) times_[i] = {times_[i].launched, now_s(), known};
  }
  finalize_end_ = now_s();
  next_launch_ = 0;
  next_complete_ = 0;
  lowest_done_ = num_layers_;
}

}  // namespace lockstep::comm
