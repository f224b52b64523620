// NcclCommunicator (CUDA builds): see comm/nccl.hpp.

#include "comm/nccl.hpp"

#include <nccl.h>

#include <cstring>
#include <optional>
#include <vector>

#include "comm/abortable.hpp"
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

// Waits on the host until the collective is done, polling the event and
// NCCL's asynchronous error state (a peer that exited shows up there within
// about a millisecond) instead of blocking blindly in cudaEventSynchronize; a
// hung peer is left to the watchdog, whose scope covers the wait. On an NCCL
// error, or when the watchdog signals, this (the owner's) thread aborts the
// communicator, once (wait_polling).
class NcclRequest final : public Request {
 public:
  NcclRequest(cudaEvent_t done, NcclComm& comm, Watchdog* watchdog, const char* op)
      : done_(done), comm_(comm), watchdog_(watchdog), op_(op) {}
  void wait() override {
    if (done_ == nullptr) return;
    wait_polling(
        watchdog_, op_, [this] { return poll(); }, [this] { comm_.abort(); });
    // Already complete on the host; keeps the compute stream ordered after it as before.
    LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(), done_, 0));
    done_ = nullptr;
  }

 private:
  PollResult poll() {
    const cudaError_t q = cudaEventQuery(done_);
    if (q == cudaSuccess) return {true, ""};
    if (q != cudaErrorNotReady) LOCKSTEP_CUDA_CHECK(q);
    ncclResult_t async = ncclSuccess;
    LOCKSTEP_NCCL_CHECK(ncclCommGetAsyncError(comm_.get(), &async));
    if (async != ncclSuccess && async != ncclInProgress)
      return {false, std::string("NCCL reports '") + ncclGetErrorString(async) + "' (" +
                         ncclGetLastError(comm_.get()) + ")"};
    return {};
  }

  cudaEvent_t done_;
  NcclComm& comm_;
  Watchdog* watchdog_;
  const char* op_;
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
  }
  ~NcclCommunicator() override = default;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  std::string backend() const override { return "nccl"; }

  void allreduce(std::span<float> data, ReduceOp op) override { allreduce_async(data, op)->wait(); }
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
  void begin() {
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(ready_.get(), cuda::current_stream()));
    LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(stream_.get(), ready_.get(), 0));
  }
  // Events come from a ring (no creation per step); an event is recorded again
  // only after kEvents more collectives, long after its wait was queued.
  std::unique_ptr<Request> end(const char* op) {
    cudaEvent_t done = events_[next_event_++ % events_.size()].get();
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(done, stream_.get()));
    return std::make_unique<NcclRequest>(done, *comm_, watchdog(), op);
  }

  static constexpr int kEvents = 256;
  MpiCommunicator& mpi_;
  cuda::Stream stream_;
  cuda::Event ready_;
  std::vector<cuda::Event> events_;
  size_t next_event_ = 0;
  std::optional<NcclComm> comm_;  // set once ncclCommInitRank returned
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MpiCommunicator& bootstrap) {
  return std::make_unique<NcclCommunicator>(bootstrap);
}

}  // namespace lockstep::comm
