#pragma once
// Communicator: the collectives data-parallel training needs, behind one small
// interface (DESIGN.md "Communication"). Typed spans at the boundary: counts are
// always element counts. Async variants return a handle to wait on.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace lockstep::comm {

/// An error every rank knows about (raised on all ranks by agree_or_throw):
/// the job can end cleanly, without MPI_Abort.
class CollectiveError : public Error {
 public:
  explicit CollectiveError(const std::string& what, int exit_code = 1, bool origin = true)
      : Error(what), exit_code_(exit_code), origin_(origin) {}
  /// The process's exit status for this error (README "Failure behaviour").
  int exit_code() const { return exit_code_; }
  /// True when the error is this rank's own; false when it relays another
  /// rank's ("rank 1 failed: ..."), which the job's report leaves out.
  bool origin() const { return origin_; }

 private:
  int exit_code_;
  bool origin_;
};

class Watchdog;  // comm/watchdog.hpp

enum class ReduceOp { kSum, kAvg, kMax, kMin };

/// How float values travel in a compressed all-reduce (dist.grad_dtype):
/// float32 as they are, or bfloat16 / IEEE binary16 (core/half.hpp).
enum class WireType { kF32, kBF16, kF16 };
/// "fp32", "bf16", "fp16".
const char* to_string(WireType w);
/// Parses fp32, bf16 or fp16; throws naming dist.grad_dtype otherwise.
WireType parse_wire_type(const std::string& name);

/// A pending collective. wait(): its buffers are final for what follows. Host
/// backends (MPI) block until then; device backends (NCCL) order the calling
/// thread's current stream after the collective and return without blocking
/// (host_waits() false): work queued on that stream afterwards, and host reads
/// that synchronise it, see the result.
class Request {
 public:
  virtual ~Request() = default;
  virtual void wait() = 0;
  /// False when wait() only orders the current stream (see above).
  virtual bool host_waits() const { return true; }
  /// Lets the collective progress without blocking (MPI only moves a
  /// nonblocking collective inside MPI calls); true once it is complete, when
  /// wait() returns at once. Backends that progress on their own say false.
  virtual bool test() { return false; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;

  /// Blocking all-reduce, for small in-step statistics (synchronised
  /// BatchNorm). Device backends: stream-ordered like Request::wait (no host
  /// wait), and not queued behind async collectives in flight.
  virtual void allreduce(std::span<float> data, ReduceOp op) = 0;
  virtual void allreduce(std::span<double> data, ReduceOp op) = 0;
  virtual void allreduce(std::span<int64_t> data, ReduceOp op) = 0;
  /// Starts an in-place float all-reduce; the span must stay alive until wait().
  virtual std::unique_ptr<Request> allreduce_async(std::span<float> data, ReduceOp op) = 0;
  /// The same with the values sent as `wire` (kF32: allreduce_async). 16-bit
  /// types halve the bytes: each rank's values are rounded to the type and the
  /// partial sums are rounded to it at every step of the reduction. kF16 values
  /// are first scaled by a power of two the ranks agree on (from the largest
  /// magnitude on any rank) so that the sum cannot overflow and small values
  /// keep their bits; the result is scaled back. The span stays float32.
  /// kSum and kAvg only. Backends without 16-bit support throw.
  virtual std::unique_ptr<Request> allreduce_compressed_async(std::span<float> data, ReduceOp op,
                                                              WireType wire);

  /// Starts a reduce-scatter: `send` (the same length on every rank) is cut
  /// into consecutive pieces of counts[0], counts[1], ... elements (summing
  /// to its length); rank r receives the reduction of piece r in `recv`
  /// (counts[rank()] elements). The spans must stay alive until wait().
  virtual std::unique_ptr<Request> reduce_scatter_async(std::span<const float> send,
                                                        std::span<float> recv,
                                                        const std::vector<int64_t>& counts,
                                                        ReduceOp op);
  /// Starts an in-place all-reduce of a few host int64 values (flags, a stop
  /// signal) that the caller completes later, so that agreeing on them costs
  /// no blocking collective per step; the span must stay alive until wait().
  /// This base runs the blocking allreduce and returns a completed request.
  virtual std::unique_ptr<Request> allreduce_host_async(std::span<int64_t> data, ReduceOp op);
  /// In place: rank r's piece (counts[r] elements at the sum of the counts
  /// before it) of `data` goes to every rank.
  virtual void allgather_pieces(std::span<float> data, const std::vector<int64_t>& counts);

  virtual void broadcast(std::span<float> data, int root) = 0;
  virtual void broadcast(std::span<double> data, int root) = 0;
  virtual void broadcast(std::span<uint8_t> data, int root) = 0;
  /// out.size() == size() * in.size(); rank r's values land at [r*n, (r+1)*n).
  virtual void allgather(std::span<const uint64_t> in, std::span<uint64_t> out) = 0;
  virtual void barrier() = 0;

  /// The watchdog this communicator's collectives report to (none: nullptr).
  /// Set before training; a communicator built on another takes its watchdog.
  void set_watchdog(Watchdog* w) { watchdog_ = w; }
  Watchdog* watchdog() const { return watchdog_; }

 private:
  Watchdog* watchdog_ = nullptr;
};

/// Broadcasts a string from root (length first, then bytes).
std::string broadcast_string(Communicator& comm, const std::string& s, int root);

/// Collective agreement on an error: every rank passes its own error (or none).
/// If any rank has one, every rank throws CollectiveError — the failing rank with
/// its own message, the others with the message of the lowest failing rank
/// ("rank 1: ..."). Used before training so bad input ends every rank at once.
void agree_or_throw(Communicator& comm, const std::optional<std::string>& local_error);

/// Runs `check` on every rank and agrees on the outcome (see agree_or_throw).
template <class F>
void check_on_all_ranks(Communicator& comm, F&& check);

/// Compares a 64-bit hash of `what` across ranks; on a mismatch every rank
/// throws an error naming the ranks that differ from rank 0.
void check_same_across_ranks(Communicator& comm, uint64_t hash, const std::string& what);

/// The report of an error every rank has, one line per distinct message:
/// `messages[r]` is rank r's own message (empty: rank r only relays another
/// rank's). Lines read "<prefix>error on rank 3: ..." or "<prefix>error on
/// ranks 0-2,5: ...", ranks ascending, lines ordered by their lowest rank.
std::vector<std::string> error_report_lines(const std::string& prefix,
                                            const std::vector<std::string>& messages);

/// "0-2,5": ascending ranks with runs written as ranges.
std::string rank_ranges(const std::vector<int>& ranks);

/// FNV-1a of a string (for config hashes).
uint64_t fnv1a(const std::string& s);

}  // namespace lockstep::comm

#include "comm/communicator_inl.hpp"
