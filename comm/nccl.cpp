// NcclCommunicator (CUDA builds): see comm/nccl.hpp.

#include "comm/nccl.hpp"

#include <nccl.h>

#include <cstring>
#include <vector>

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

struct CommDeleter {
  void operator()(ncclComm* c) const noexcept { ncclCommDestroy(c); }
};
using NcclComm = std::unique_ptr<ncclComm, CommDeleter>;

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

// Done when the compute stream has been told to wait for the collective.
class NcclRequest final : public Request {
 public:
  explicit NcclRequest(cudaEvent_t done) : done_(done) {}
  void wait() override {
    if (done_ == nullptr) return;
    LOCKSTEP_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(), done_, 0));
    done_ = nullptr;
  }

 private:
  cudaEvent_t done_;
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
    ncclComm_t comm = nullptr;
    LOCKSTEP_NCCL_CHECK(ncclCommInitRank(&comm, mpi.size(), id, mpi.rank()));
    comm_.reset(comm);
  }

  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  std::string backend() const override { return "nccl"; }

  void allreduce(std::span<float> data, ReduceOp op) override { allreduce_async(data, op)->wait(); }
  void allreduce(std::span<double> data, ReduceOp op) override { mpi_.allreduce(data, op); }
  void allreduce(std::span<int64_t> data, ReduceOp op) override { mpi_.allreduce(data, op); }

  std::unique_ptr<Request> allreduce_async(std::span<float> data, ReduceOp op) override {
    begin();
    LOCKSTEP_NCCL_CHECK(ncclAllReduce(data.data(), data.data(), data.size(), ncclFloat32,
                                      to_nccl(op), comm_.get(), stream_.get()));
    return end();
  }

  void broadcast(std::span<float> data, int root) override {
    begin();
    LOCKSTEP_NCCL_CHECK(ncclBroadcast(data.data(), data.data(), data.size(), ncclFloat32, root,
                                      comm_.get(), stream_.get()));
    end()->wait();
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
  std::unique_ptr<Request> end() {
    cudaEvent_t done = events_[next_event_++ % events_.size()].get();
    LOCKSTEP_CUDA_CHECK(cudaEventRecord(done, stream_.get()));
    return std::make_unique<NcclRequest>(done);
  }

  static constexpr int kEvents = 256;
  MpiCommunicator& mpi_;
  cuda::Stream stream_;
  cuda::Event ready_;
  std::vector<cuda::Event> events_;
  size_t next_event_ = 0;
  NcclComm comm_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MpiCommunicator& bootstrap) {
  return std::make_unique<NcclCommunicator>(bootstrap);
}

}  // namespace lockstep::comm
