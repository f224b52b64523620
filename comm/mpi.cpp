// MpiCommunicator: collectives over an MPI communicator in host memory, the
// pending requests of its nonblocking ones (MpiPending and its MpiRequest,
// MpiWireRequest, MpiHostRequest), the 16-bit wire sums of compressed
// all-reduces, reduce-scatter and allgather in pieces. The session (MPI
// initialisation, host layout, abort) is in comm/mpi_session.cpp.

#include "comm/mpi.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>

#include "comm/watchdog.hpp"
#include "core/half.hpp"

namespace lockstep::comm {

namespace {

MPI_Op to_mpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      return MPI_SUM;  // kAvg divides afterwards
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
  }
  return MPI_SUM;
}

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype mpi_type<double>() {
  return MPI_DOUBLE;
}
template <>
MPI_Datatype mpi_type<int64_t>() {
  return MPI_INT64_T;
}
template <>
MPI_Datatype mpi_type<uint8_t>() {
  return MPI_UINT8_T;
}

// MPI counts are int: larger buffers go in pieces.
constexpr size_t kMaxPiece = static_cast<size_t>(INT_MAX) / 2;

template <class T>
void allreduce_impl(MPI_Comm comm, int size, std::span<T> data, ReduceOp op) {
  for (size_t at = 0; at < data.size(); at += kMaxPiece) {
    const size_t n = std::min(kMaxPiece, data.size() - at);
    LOCKSTEP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data.data() + at, static_cast<int>(n),
                                     mpi_type<T>(), to_mpi(op), comm));
  }
  if (op == ReduceOp::kAvg) {
    for (T& v : data) v /= static_cast<T>(size);
  }
}

template <class T>
void broadcast_impl(MPI_Comm comm, std::span<T> data, int root) {
  for (size_t at = 0; at < data.size(); at += kMaxPiece) {
    const size_t n = std::min(kMaxPiece, data.size() - at);
    LOCKSTEP_MPI_CHECK(MPI_Bcast(data.data() + at, static_cast<int>(n), mpi_type<T>(), root, comm));
  }
}

// Nonblocking MPI requests that complete together, then finish() runs once
// (scaling, converting back). Waits under the watchdog; test() lets MPI
// progress them without blocking.
class MpiPending : public Request {
 public:
  explicit MpiPending(Watchdog* watchdog) : watchdog_(watchdog) {}
  ~MpiPending() override { drain(); }
  void wait() override {
    if (done_) return;
    const Watchdog::Scope scope(watchdog_, "allreduce");
    LOCKSTEP_MPI_CHECK(
        MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE));
    done_ = true;
    finish();
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    LOCKSTEP_MPI_CHECK(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag,
                                   MPI_STATUSES_IGNORE));
    if (flag) {
      done_ = true;
      finish();
    }
    return done_;
  }
  std::vector<MPI_Request> requests_;

 protected:
  // A request must be waited on; if it is dropped during unwinding, complete
  // it so that MPI does not write into freed memory later (derived classes
  // call it first: their buffers go before the base's destructor runs).
  void drain() {
    if (done_) return;
    for (MPI_Request& r : requests_) MPI_Wait(&r, MPI_STATUS_IGNORE);
    done_ = true;
  }

 private:
  virtual void finish() = 0;

  Watchdog* watchdog_;
  bool done_ = false;
};

class MpiRequest final : public MpiPending {
 public:
  MpiRequest(std::span<float> data, ReduceOp op, int size, Watchdog* watchdog)
      : MpiPending(watchdog), data_(data), op_(op), size_(size) {}
  ~MpiRequest() override { drain(); }
  std::vector<int> counts_;  // a reduce-scatter's counts, alive until it completes

 private:
  void finish() override {
    if (op_ == ReduceOp::kAvg) {
      const float inv = 1.0f / static_cast<float>(size_);
      for (float& v : data_) v *= inv;
    }
  }

  std::span<float> data_;
  ReduceOp op_;
  int size_;
};

// A float all-reduce sent as 16-bit values (WireType): the values are
// converted into `wire_`, summed by a user-defined MPI operation that rounds
// every partial sum to the type, and converted back (scaled) on completion.
class MpiWireRequest final : public MpiPending {
 public:
  MpiWireRequest(std::span<float> data, WireType wire, float post_scale, Watchdog* watchdog)
      : MpiPending(watchdog),
        data_(data),
        wire_type_(wire),
        post_(post_scale),
        wire_(data.size()) {}
  ~MpiWireRequest() override { drain(); }
  std::vector<uint16_t>& wire() { return wire_; }

 private:
  void finish() override {
    const bool bf16 = wire_type_ == WireType::kBF16;
    for (size_t i = 0; i < data_.size(); ++i)
      data_[i] = (bf16 ? half::from_bf16(wire_[i]) : half::from_f16(wire_[i])) * post_;
  }

  std::span<float> data_;
  WireType wire_type_;
  float post_;
  std::vector<uint16_t> wire_;
};

void bf16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const uint16_t*>(in);
  auto* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i)
    b[i] = half::to_bf16(half::from_bf16(a[i]) + half::from_bf16(b[i]));
}

void f16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const uint16_t*>(in);
  auto* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = half::to_f16(half::from_f16(a[i]) + half::from_f16(b[i]));
}

// The summing operation of a 16-bit wire type (created once).
MPI_Op wire_sum(WireType wire) {
  static MPI_Op ops[2] = {MPI_OP_NULL, MPI_OP_NULL};
  const int i = wire == WireType::kBF16 ? 0 : 1;
  if (ops[i] == MPI_OP_NULL)
    LOCKSTEP_MPI_CHECK(MPI_Op_create(i == 0 ? bf16_sum : f16_sum, /*commute=*/1, &ops[i]));
  return ops[i];
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm) {
  LOCKSTEP_MPI_CHECK(MPI_Comm_dup(comm, &comm_));
  LOCKSTEP_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  LOCKSTEP_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  LOCKSTEP_MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::allreduce(std::span<float> data, ReduceOp op) {
  const Watchdog::Scope scope(watchdog(), "allreduce");
  allreduce_impl(comm_, size_, data, op);
}
void MpiCommunicator::allreduce(std::span<double> data, ReduceOp op) {
  const Watchdog::Scope scope(watchdog(), "allreduce");
  allreduce_impl(comm_, size_, data, op);
}
void MpiCommunicator::allreduce(std::span<int64_t> data, ReduceOp op) {
  const Watchdog::Scope scope(watchdog(), "allreduce");
  allreduce_impl(comm_, size_, data, op);
}

std::unique_ptr<Request> MpiCommunicator::allreduce_async(std::span<float> data, ReduceOp op) {
  auto req = std::make_unique<MpiRequest>(data, op, size_, watchdog());
  for (size_t at = 0; at < data.size(); at += kMaxPiece) {
    const size_t n = std::min(kMaxPiece, data.size() - at);
    MPI_Request r = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data.data() + at, static_cast<int>(n),
                                      MPI_FLOAT, to_mpi(op), comm_, &r));
    req->requests_.push_back(r);
  }
  return req;
}

// A host int64 all-reduce (flags, signals): kSum, kMax, kMin (no average).
class MpiHostRequest final : public MpiPending {
 public:
  explicit MpiHostRequest(Watchdog* watchdog) : MpiPending(watchdog) {}
  ~MpiHostRequest() override { drain(); }

 private:
  void finish() override {}
};

std::unique_ptr<Request> MpiCommunicator::allreduce_host_async(std::span<int64_t> data,
                                                               ReduceOp op) {
  LOCKSTEP_CHECK(op != ReduceOp::kAvg, "allreduce_host_async: expected sum, max or min, got avg");
  LOCKSTEP_CHECK(data.size() <= kMaxPiece, "allreduce_host_async: expected at most "
                                               << kMaxPiece << " values, got " << data.size());
  auto req = std::make_unique<MpiHostRequest>(watchdog());
  MPI_Request r = MPI_REQUEST_NULL;
  LOCKSTEP_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data.data(), static_cast<int>(data.size()),
                                    MPI_INT64_T, to_mpi(op), comm_, &r));
  req->requests_.push_back(r);
  return req;
}

std::unique_ptr<Request> MpiCommunicator::allreduce_compressed_async(std::span<float> data,
                                                                     ReduceOp op, WireType wire) {
  if (wire == WireType::kF32) return allreduce_async(data, op);
  LOCKSTEP_CHECK(op == ReduceOp::kSum || op == ReduceOp::kAvg,
                 "allreduce: a " << to_string(wire) << " all-reduce sums or averages only");
  float scale = 1.0f;
  if (wire == WireType::kF16) {  // the ranks agree on the scale from the largest magnitude
    float max_abs = 0.0f;
    for (float v : data) max_abs = std::max(max_abs, std::abs(v));
    if (!std::isfinite(max_abs)) max_abs = std::numeric_limits<float>::infinity();
    {
      const Watchdog::Scope scope(watchdog(), "allreduce");
      LOCKSTEP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &max_abs, 1, MPI_FLOAT, MPI_MAX, comm_));
    }
    scale = half::f16_scale(max_abs, size_);
  }
  const float post = (op == ReduceOp::kAvg ? 1.0f / static_cast<float>(size_) : 1.0f) / scale;
  auto req = std::make_unique<MpiWireRequest>(data, wire, post, watchdog());
  std::vector<uint16_t>& w = req->wire();
  for (size_t i = 0; i < data.size(); ++i)
    w[i] = wire == WireType::kBF16 ? half::to_bf16(data[i]) : half::to_f16(data[i] * scale);
  const MPI_Op sum = wire_sum(wire);
  for (size_t at = 0; at < w.size(); at += kMaxPiece) {
    const size_t n = std::min(kMaxPiece, w.size() - at);
    MPI_Request r = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, w.data() + at, static_cast<int>(n),
                                      MPI_UINT16_T, sum, comm_, &r));
    req->requests_.push_back(r);
  }
  return req;
}

namespace {

std::vector<int> int_counts(const std::vector<int64_t>& counts, const char* op) {
  std::vector<int> out;
  for (int64_t c : counts) {
    LOCKSTEP_CHECK(c >= 0 && c <= INT_MAX,
                   op << ": a piece of " << c << " elements (MPI counts are int)");
    out.push_back(static_cast<int>(c));
  }
  return out;
}

}  // namespace

std::unique_ptr<Request> MpiCommunicator::reduce_scatter_async(std::span<const float> send,
                                                               std::span<float> recv,
                                                               const std::vector<int64_t>& counts,
                                                               ReduceOp op) {
  LOCKSTEP_CHECK(static_cast<int>(counts.size()) == size_,
                 "reduce_scatter: expected " << size_ << " counts, got " << counts.size());
  LOCKSTEP_CHECK(static_cast<size_t>(counts[static_cast<size_t>(rank_)]) == recv.size(),
                 "reduce_scatter: expected a receive span of " << counts[static_cast<size_t>(rank_)]
                                                               << " elements, got " << recv.size());
  auto req = std::make_unique<MpiRequest>(recv, op, size_, watchdog());
  req->counts_ = int_counts(counts, "reduce_scatter");
  MPI_Request r = MPI_REQUEST_NULL;
  LOCKSTEP_MPI_CHECK(MPI_Ireduce_scatter(send.data(), recv.data(), req->counts_.data(), MPI_FLOAT,
                                         to_mpi(op), comm_, &r));
  req->requests_.push_back(r);
  return req;
}

void MpiCommunicator::allgather_pieces(std::span<float> data, const std::vector<int64_t>& counts) {
  LOCKSTEP_CHECK(static_cast<int>(counts.size()) == size_,
                 "allgather: expected " << size_ << " counts, got " << counts.size());
  const std::vector<int> n = int_counts(counts, "allgather");
  std::vector<int> displs(n.size(), 0);
  for (size_t r = 1; r < n.size(); ++r) displs[r] = displs[r - 1] + n[r - 1];
  LOCKSTEP_CHECK(static_cast<size_t>(displs.back() + n.back()) == data.size(),
                 "allgather: the pieces cover " << displs.back() + n.back() << " of " << data.size()
                                                << " elements");
  const Watchdog::Scope scope(watchdog(), "allgather");
  LOCKSTEP_MPI_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data.data(), n.data(),
                                    displs.data(), MPI_FLOAT, comm_));
}

void MpiCommunicator::broadcast(std::span<float> data, int root) {
  const Watchdog::Scope scope(watchdog(), "broadcast");
  broadcast_impl(comm_, data, root);
}
void MpiCommunicator::broadcast(std::span<double> data, int root) {
  const Watchdog::Scope scope(watchdog(), "broadcast");
  broadcast_impl(comm_, data, root);
}
void MpiCommunicator::broadcast(std::span<uint8_t> data, int root) {
  const Watchdog::Scope scope(watchdog(), "broadcast");
  broadcast_impl(comm_, data, root);
}

void MpiCommunicator::allgather(std::span<const uint64_t> in, std::span<uint64_t> out) {
  LOCKSTEP_CHECK(out.size() == in.size() * static_cast<size_t>(size_),
                 "allgather: expected an output of " << in.size() * static_cast<size_t>(size_)
                                                     << " elements, got " << out.size());
  const Watchdog::Scope scope(watchdog(), "allgather");
  LOCKSTEP_MPI_CHECK(MPI_Allgather(in.data(), static_cast<int>(in.size()), MPI_UINT64_T, out.data(),
                                   static_cast<int>(in.size()), MPI_UINT64_T, comm_));
}

void MpiCommunicator::gather(std::span<const float> in, std::span<float> out,
                             const std::vector<int64_t>& counts, int root) {
  LOCKSTEP_CHECK(counts.size() == static_cast<size_t>(size_) &&
                     static_cast<int64_t>(in.size()) == counts[static_cast<size_t>(rank_)],
                 "gather: expected " << size_ << " counts and " << in.size()
                                     << " input elements on rank " << rank_);
  std::vector<int> sizes(counts.size()), offsets(counts.size());
  int64_t total = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    LOCKSTEP_CHECK(total + counts[r] <= INT_MAX,
                   "gather: " << total + counts[r] << " elements; expected at most " << INT_MAX);
    offsets[r] = static_cast<int>(total);
    sizes[r] = static_cast<int>(counts[r]);
    total += counts[r];
  }
  LOCKSTEP_CHECK(rank_ != root || static_cast<int64_t>(out.size()) == total,
                 "gather: expected an output of " << total << " elements, got " << out.size());
  const Watchdog::Scope scope(watchdog(), "gather");
  LOCKSTEP_MPI_CHECK(MPI_Gatherv(in.data(), static_cast<int>(in.size()), MPI_FLOAT, out.data(),
                                 sizes.data(), offsets.data(), MPI_FLOAT, root, comm_));
}

void MpiCommunicator::barrier() {
  const Watchdog::Scope scope(watchdog(), "barrier");
  LOCKSTEP_MPI_CHECK(MPI_Barrier(comm_));
}

}  // namespace lockstep::comm
