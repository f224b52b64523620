#pragma once
// Reducer: averages the gradient slab across ranks in buckets, overlapping
// communication with the rest of backward (DESIGN.md "Communication").
//
// The slab is cut into contiguous buckets in reverse layer order (the order in
// which backward finishes layers), each up to `bucket_bytes` (a layer larger
// than the cap gets a bucket of its own). The bucket order is the same on every
// rank and buckets are launched strictly in that order: a bucket starts as soon
// as the last of its layers reports done. Between layers the buckets in flight
// are tested (MPI progresses a nonblocking collective only inside MPI calls),
// so they move while backward runs (`progress`; off, they move only once
// finalize() waits, as an experiment's baseline). finalize() waits for all of them;
// afterwards the slab holds the average over ranks.
//
// Every step records when each bucket was launched and found complete, and
// how long finalize() waited (the communication backward did not hide).

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "comm/communicator.hpp"

namespace lockstep::comm {

class Reducer {
 public:
  /// layer_ranges[i]: [begin, end) of layer i's gradients in the slab, in
  /// layer order, contiguous and increasing (empty ranges for layers without
  /// parameters).
  Reducer(Communicator& comm, std::span<float> grads,
          const std::vector<std::pair<int64_t, int64_t>>& layer_ranges,
          size_t bucket_bytes = size_t{25} << 20, bool progress = true,
          WireType wire = WireType::kF32);

  /// Sharded optimizer (ZeRO-1): the buckets are reduce-scattered instead of
  /// all-reduced; rank r receives the average of slab elements
  /// [bounds[r], bounds[r + 1]) in `shard` (bounds: size() + 1 increasing
  /// offsets from 0 to the slab's length). The slab itself keeps this rank's
  /// own gradients.
  void shard_into(std::span<float> shard, std::vector<int64_t> bounds);

  /// Backward finished layer i (layers arrive from last to first).
  void layer_done(size_t layer);
  /// Waits for every bucket (launching any not yet launched); the slab then
  /// holds the average over ranks. Resets for the next step.
  void finalize();

  size_t num_buckets() const { return buckets_.size(); }

  /// Seconds on the steady clock (since its epoch) of the last step's buckets.
  /// Host times: with a device backend the host queues work ahead of the
  /// device, so they are when the host saw things happen.
  struct BucketTime {
    double launched = 0.0;
    /// When a test found it done, or its wait returned. A stream-ordered wait
    /// (NCCL: Request::host_waits() is false) returns before the bucket
    /// completes: a bucket still running at finalize() gets the time its wait
    /// was queued, a lower bound of its completion, and completion_known false.
    double completed = 0.0;
    bool completion_known = true;
  };
  const std::vector<BucketTime>& bucket_times() const { return times_; }
  /// The last step's finalize(): when it began and ended (its wait is the
  /// exposed communication on host backends; a stream-ordered backend's
  /// finalize does not block, and its exposed time is the device's).
  double finalize_begin() const { return finalize_begin_; }
  double finalize_end() const { return finalize_end_; }
  std::pair<int64_t, int64_t> bucket_range(size_t b) const {
    return {buckets_.at(b).begin, buckets_.at(b).end};
  }

 private:
  struct Bucket {
    int64_t begin = 0, end = 0;  // slab elements
    size_t first_layer = 0;      // the lowest layer index in the bucket: done last
    std::vector<int64_t> counts;  // shard_into: every rank's piece of the bucket
    int64_t shard_offset = 0;     // shard_into: where this rank's piece lands in its slice
    std::unique_ptr<Request> request;
  };
  void launch_ready();
  void progress();

  Communicator& comm_;
  std::span<float> grads_;
  std::vector<Bucket> buckets_;  // in launch order (reverse layer order)
  size_t next_launch_ = 0;
  size_t next_complete_ = 0;  // buckets before it are complete
  bool progress_ = true;      // test the buckets in flight between layers
  WireType wire_ = WireType::kF32;  // how the gradients travel (dist.grad_dtype)
  std::span<float> shard_;          // shard_into: this rank's averaged slice
  std::vector<int64_t> bounds_;     // shard_into: every rank's slice of the slab
  std::vector<BucketTime> times_;
  double finalize_begin_ = 0.0, finalize_end_ = 0.0;
  size_t lowest_done_;  // the smallest layer index reported done this step
  size_t num_layers_;
};

}  // namespace lockstep::comm
