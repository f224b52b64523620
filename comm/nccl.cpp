// NcclCommunicator (CUDA builds): see comm/nccl.hpp.

#include "comm/nccl.hpp"

#include <nccl.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <vector>

#include "comm/abortable.hpp"
#include "comm/inflight.hpp"
#include "comm/nccl_wire.hpp"
#include "comm/watchdog.hpp"
#include "core/cuda/runtime.hpp"

#define LOCKSTEP_NCCL_CHECK(call)                                                              \
  do {                                                                                         \
    const ncclResult_t lockstep_nccl_rc_ = (call);                                             \
    if (lockstep_nccl_rc_ != ncclSuccess)                                                      \
      ::lockstep::detail::throw_call_failed("NCCL", #call, __FILE__, __LINE__,                 \
                                            ::lockstep::cuda::where() + ": " +                 \
                                                ncclGetErrorString(lockstep_nccl_rc_) + " (" + \
                                                ncclGetLastError(nullptr) + ")");              \
  } while (0)

namespace lockstep::comm {

bool nccl_available() {
  return true;
}

namespace {

// The communicator's one owner (see "Note: ownership on the abort path" in
// comm/watchdog.hpp): ncclCommAbort on a failure, else ncclCommDestroy, once.
void abort_comm(ncclComm_t c) {
  ncclCommAbort(c);
}
void destroy_comm(ncclComm_t c) {
  ncclCommDestroy(c);
}
using NcclComm = AbortableHandle<ncclComm_t>;

ncclRedOp_t to_nccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kAvg:
      return ncclAvg;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

// Waiting is stream-ordered: the caller's current stream waits for the
// collective's completion event, and the host goes on. Every wait and test
// first checks the collectives in flight without blocking (comm/inflight.hpp):
// an NCCL error, or the watchdog's signal, makes this (the owner's) thread
// abort the communicator, once; a collective that hangs is the monitor's.
class NcclRequest final : public Request {
 public:
  NcclRequest(cudaEvent_t done, InflightCollectives& inflight) : done_(done), inflight_(inflight) {}
  void wait() override {
    if (waited_) return;
    inflight_.check();
    LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(), done_, 0));
    waited_ = true;
  }
  bool host_waits() const override { return false; }
  // True once the collective completed on the device (the Reducer's
  // completion times come from here).
  bool test() override {
    inflight_.check();
    const cudaError_t q = cudaEventQuery(done_);
    if (q == cudaErrorNotReady) return false;
    LOCKSTEP_CUDA_CHECK(q);
    return true;
  }

 private:
  cudaEvent_t done_;
  InflightCollectives& inflight_;
  bool waited_ = false;
};

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(MpiCommunicator& mpi)
      : mpi_(mpi), stream_(cuda::make_stream()), ready_(cuda::make_event()) {
    for (int i = 0; i < kEvents; ++i) events_.push_back(cuda::make_event());
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (mpi.rank() == 0) LOCKSTEP_NCCL_CHECK(ncclGetUniqueId(&id));
    mpi.broadcast(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&id), sizeof id), 0);
    set_watchdog(mpi.watchdog());
    // A peer that never arrives would hang ncclCommInitRank forever: the
    // watchdog covers it like any collective (dist.timeout), and its message
    // names the rank, the operation and the timeout.
    ncclComm_t comm = nullptr;
    {
      const Watchdog::Scope scope(watchdog(), "NCCL setup (ncclCommInitRank)");
      LOCKSTEP_NCCL_CHECK(ncclCommInitRank(&comm, mpi.size(), id, mpi.rank()));
    }
    comm_.emplace(comm, abort_comm, destroy_comm);
    int device = 0;
    LOCKSTEP_CUDA_CHECK(cudaGetDevice(&device));
    inflight_.emplace(
        watchdog(), [this] { return async_error(); },
        [this] {
          comm_->abort();
          if (stats_comm_) stats_comm_->abort();
        },
        [device] { (void)cudaSetDevice(device); });
  }
  ~NcclCommunicator() override = default;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  std::string backend() const override { return "nccl"; }

  // Small in-step statistics (synchronised BatchNorm): stream-ordered like
  // every wait here, and on a communicator and stream of their own, so they
  // do not queue behind the gradient buckets in flight (NCCL runs the
  // collectives of one communicator in the order they were issued, whatever
  // their streams). Every rank issues the same collectives in the same order
  // on both communicators, as NCCL requires of concurrent communicators.
  void allreduce(std::span<float> data, ReduceOp op) override {
    ensure_stats_comm();
    inflight_->check();
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(ready_.get(), cuda::current_stream()));
    LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(stats_stream_.get(), ready_.get(), 0));
    LOCKSTEP_NCCL_CHECK(ncclAllReduce(data.data(), data.data(), data.size(), ncclFloat32,
                                      to_nccl(op), stats_comm_->get(), stats_stream_.get()));
    record_done(stats_stream_.get(), "allreduce (statistics)")->wait();
  }
  void allreduce(std::span<double> data, ReduceOp op) override { mpi_.allreduce(data, op); }
  void allreduce(std::span<int64_t> data, ReduceOp op) override { mpi_.allreduce(data, op); }
  std::unique_ptr<Request> allreduce_host_async(std::span<int64_t> data, ReduceOp op) override {
    return mpi_.allreduce_host_async(data, op);
  }

  std::unique_ptr<Request> allreduce_async(std::span<float> data, ReduceOp op) override {
    begin();
    LOCKSTEP_NCCL_CHECK(ncclAllReduce(data.data(), data.data(), data.size(), ncclFloat32,
                                      to_nccl(op), comm_->get(), stream_.get()));
    return end("allreduce");
  }

  // 16-bit wire: staging from the stream-ordered pool (no allocation on the
  // host path), the scale agreed on the device (binary16), all on the
  // communication stream.
  std::unique_ptr<Request> allreduce_compressed_async(std::span<float> data, ReduceOp op,
                                                      WireType wire_type) override {
    if (wire_type == WireType::kF32) return allreduce_async(data, op);
    LOCKSTEP_CHECK(op == ReduceOp::kSum || op == ReduceOp::kAvg,
                   "allreduce: a " << to_string(wire_type) << " all-reduce sums or averages only");
    const bool bf16 = wire_type == WireType::kBF16;
    const size_t n = data.size();
    const size_t wire_bytes = (n * sizeof(uint16_t) + 15) / 16 * 16;
    begin();
    cudaStream_t s = stream_.get();
    void* buf = nullptr;
    LOCKSTEP_CUDA_CHECK(cudaMallocAsync(&buf, wire_bytes + sizeof(unsigned int), s));
    auto* values = static_cast<uint16_t*>(buf);
    auto* max_bits = reinterpret_cast<unsigned int*>(static_cast<char*>(buf) + wire_bytes);
    LOCKSTEP_CUDA_CHECK(cudaMemsetAsync(max_bits, 0, sizeof(unsigned int), s));
    if (!bf16) {
      wire::max_abs_bits(data.data(), n, max_bits, s);
      LOCKSTEP_NCCL_CHECK(
          ncclAllReduce(max_bits, max_bits, 1, ncclUint32, ncclMax, comm_->get(), s));
    }
    wire::to_wire(data.data(), values, n, bf16, max_bits, size(), s);
    LOCKSTEP_NCCL_CHECK(ncclAllReduce(values, values, n, bf16 ? ncclBfloat16 : ncclFloat16,
                                      ncclSum, comm_->get(), s));
    const float post = op == ReduceOp::kAvg ? 1.0f / static_cast<float>(size()) : 1.0f;
    wire::from_wire(values, data.data(), n, bf16, max_bits, size(), post, s);
    LOCKSTEP_CUDA_CHECK(cudaFreeAsync(buf, s));
    return end("allreduce");
  }

  // Pieces of any size: one ncclReduce per rank's piece in one group (NCCL's
  // own reduce-scatter wants equal pieces).
  std::unique_ptr<Request> reduce_scatter_async(std::span<const float> send, std::span<float> recv,
                                                const std::vector<int64_t>& counts,
                                                ReduceOp op) override {
    LOCKSTEP_CHECK(static_cast<int>(counts.size()) == size(),
                   "reduce_scatter: expected " << size() << " counts, got " << counts.size());
    begin();
    LOCKSTEP_NCCL_CHECK(ncclGroupStart());
    size_t at = 0;
    for (int r = 0; r < size(); ++r) {
      const auto n = static_cast<size_t>(counts[static_cast<size_t>(r)]);
      float* out = r == rank() ? recv.data() : nullptr;
      if (n > 0)
        LOCKSTEP_NCCL_CHECK(ncclReduce(send.data() + at, out, n, ncclFloat32, to_nccl(op), r,
                                       comm_->get(), stream_.get()));
      at += n;
    }
    LOCKSTEP_NCCL_CHECK(ncclGroupEnd());
    return end("reduce-scatter");
  }

  void allgather_pieces(std::span<float> data, const std::vector<int64_t>& counts) override {
    LOCKSTEP_CHECK(static_cast<int>(counts.size()) == size(),
                   "allgather: expected " << size() << " counts, got " << counts.size());
    begin();
    LOCKSTEP_NCCL_CHECK(ncclGroupStart());
    size_t at = 0;
    for (int r = 0; r < size(); ++r) {
      const auto n = static_cast<size_t>(counts[static_cast<size_t>(r)]);
      if (n > 0)
        LOCKSTEP_NCCL_CHECK(ncclBroadcast(data.data() + at, data.data() + at, n, ncclFloat32, r,
                                          comm_->get(), stream_.get()));
      at += n;
    }
    LOCKSTEP_NCCL_CHECK(ncclGroupEnd());
    end("allgather")->wait();
  }

  void broadcast(std::span<float> data, int root) override {
    begin();
    LOCKSTEP_NCCL_CHECK(ncclBroadcast(data.data(), data.data(), data.size(), ncclFloat32, root,
                                      comm_->get(), stream_.get()));
    end("broadcast")->wait();
  }
  void broadcast(std::span<double> data, int root) override { mpi_.broadcast(data, root); }
  void broadcast(std::span<uint8_t> data, int root) override { mpi_.broadcast(data, root); }
  void allgather(std::span<const uint64_t> in, std::span<uint64_t> out) override {
    mpi_.allgather(in, out);
  }
  void barrier() override { mpi_.barrier(); }

 private:
  // The communication stream waits for what the compute stream queued so far.
  // Errors of earlier collectives surface here too (a non-blocking check).
  void begin() {
    inflight_->check();
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(ready_.get(), cuda::current_stream()));
    LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(stream_.get(), ready_.get(), 0));
  }
  std::unique_ptr<Request> end(const char* op) { return record_done(stream_.get(), op); }
  // Events come from a ring (no creation per step); an event is recorded again
  // only after kEvents more collectives, long after its wait was queued (and
  // the in-flight list retires its collective at every launch). One whose
  // collective is still running (more buckets in flight than the ring holds:
  // a large model in small buckets) is left alone and the ring grows, so a
  // query never sees a newer collective's recording.
  std::unique_ptr<Request> record_done(cudaStream_t stream, const char* op) {
    cudaEvent_t done = events_[next_event_++ % events_.size()].get();
    if (cudaEventQuery(done) == cudaErrorNotReady) {
      events_.push_back(cuda::make_event());
      done = events_.back().get();
    }
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(done, stream));
    inflight_->add(op, [done] { return cudaEventQuery(done) != cudaErrorNotReady; });
    return std::make_unique<NcclRequest>(done, *inflight_);
  }

  // The second communicator, made on first use (every rank reaches it at the
  // same collective).
  void ensure_stats_comm() {
    if (stats_comm_) return;
    ncclComm_t comm = nullptr;
    {
      const Watchdog::Scope scope(watchdog(), "NCCL setup (ncclCommSplit)");
      LOCKSTEP_NCCL_CHECK(ncclCommSplit(comm_->get(), 0, rank(), &comm, nullptr));
    }
    stats_stream_ = cuda::make_stream();
    stats_comm_.emplace(comm, abort_comm, destroy_comm);
    stats_handle_.store(comm, std::memory_order_release);
  }

  // Read by the in-flight monitor's thread too: only queries, never after an abort.
  std::string async_error() {
    for (ncclComm_t c : {comm_->get(), stats_handle_.load(std::memory_order_acquire)}) {
      if (c == nullptr) continue;
      ncclResult_t async = ncclSuccess;
      const ncclResult_t rc = ncclCommGetAsyncError(c, &async);
      if (rc != ncclSuccess) async = rc;
      if (async != ncclSuccess && async != ncclInProgress)
        return std::string("NCCL reports '") + ncclGetErrorString(async) + "' (" +
               ncclGetLastError(c) + ")";
    }
    return "";
  }

  static constexpr int kEvents = 256;
  MpiCommunicator& mpi_;
  cuda::Stream stream_;
  cuda::Event ready_;
  std::vector<cuda::Event> events_;
  size_t next_event_ = 0;
  std::optional<NcclComm> comm_;  // set once ncclCommInitRank returned
  cuda::Stream stats_stream_;          // allreduce(float): in-step statistics
  std::optional<NcclComm> stats_comm_;  // their communicator (split from comm_ on first use)
  std::atomic<ncclComm_t> stats_handle_{nullptr};  // the same, for the monitor thread
  // Last: its monitor thread stops before the communicators and events go.
  std::optional<InflightCollectives> inflight_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MpiCommunicator& bootstrap) {
  return std::make_unique<NcclCommunicator>(bootstrap);
}

}  // namespace lockstep::comm
