#pragma once
// MPI: the session (init/finalize owner), the check macro for MPI calls, and
// the MPI communicator for host memory (CPU ranks).

#include <mpi.h>

#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "core/error.hpp"

/// Every MPI call goes through this: names the call, file:line and the MPI error text.
#define LOCKSTEP_MPI_CHECK(call)                                                                   \
  do {                                                                                             \
    const int lockstep_mpi_rc_ = (call);                                                           \
    if (lockstep_mpi_rc_ != MPI_SUCCESS)                                                           \
      ::lockstep::detail::throw_call_failed("MPI", #call, __FILE__, __LINE__,                      \
                                            ::lockstep::comm::mpi_error_string(lockstep_mpi_rc_)); \
  } while (0)

namespace lockstep::comm {

std::string mpi_error_string(int code);

/// Where a rank sits among the hosts of the job.
struct HostLayout {
  int local_rank = 0;  // index among the ranks on this host
  int local_size = 1;  // ranks on this host
  int host = 0;        // index of this host, hosts numbered by their lowest world rank
  int hosts = 1;       // hosts in the job
};

/// The layout from `local`, the communicator of the ranks that share this
/// host with the calling rank (MpiSession passes
/// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) ordered by world rank; tests pass
/// another split to play several hosts). Collective over `world`.
HostLayout host_layout(MPI_Comm world, MPI_Comm local);

/// Owns MPI initialisation: MPI_Init_thread in the constructor (unless MPI is
/// already initialised), MPI_Finalize in the destructor. Errors on
/// MPI_COMM_WORLD return codes (MPI_ERRORS_RETURN) so they become exceptions.
///
/// Thread level: MPI_THREAD_MULTIPLE is requested, because the watchdog's
/// monitor thread ends the job with MPI_Abort while the training thread may be
/// inside a collective (README "Failure behaviour"). Where the library gives
/// less, the constructor records it and end_job() leaves MPI alone on other
/// threads (mpi_abort_allowed_here()).
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int world_rank() const { return rank_; }
  /// The level MPI gave (MPI_THREAD_SINGLE ... MPI_THREAD_MULTIPLE).
  int thread_level() const { return thread_level_; }
  int world_size() const { return size_; }
  /// Rank among the processes on this host (MPI_COMM_TYPE_SHARED: "same
  /// host" is what MPI says shares memory, never a comparison of host names,
  /// which containers and namespaces may repeat).
  int local_rank() const { return layout_.local_rank; }
  int local_size() const { return layout_.local_size; }
  const HostLayout& layout() const { return layout_; }

  /// Ends every rank of the job (after an error on this rank).
  [[noreturn]] static void abort(int code);

 private:
  bool owns_ = false;
  int rank_ = 0, size_ = 1;
  HostLayout layout_;
  int thread_level_ = MPI_THREAD_SINGLE;
};

/// The thread level requested by MpiSession.
inline constexpr int kMpiThreadLevel = MPI_THREAD_MULTIPLE;

/// True when this thread may call MPI (MPI_Abort) now: MPI gave
/// MPI_THREAD_MULTIPLE, or this is the thread that set MPI up. False before
/// any MpiSession recorded the level (nothing is known then). Any thread.
bool mpi_abort_allowed_here() noexcept;

/// The messages of an error every rank reached (CollectiveError), gathered on
/// rank 0 over MPI_COMM_WORLD with nonblocking collectives: rank 0 gets every
/// rank's `mine` in rank order, the others an empty vector. Waits at most
/// `timeout_s` for the other ranks; std::nullopt, on every rank that waited,
/// when they do not all arrive (ranks that are not in the same state: the
/// caller prints its own line and aborts the job).
std::optional<std::vector<std::string>> gather_error_messages(const std::string& mine,
                                                              double timeout_s);

/// Collectives over an MPI communicator (host memory). Holds a duplicate of
/// the communicator it is given, so its traffic never mixes with others'.
class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void allreduce(std::span<float> data, ReduceOp op) override;
  void allreduce(std::span<double> data, ReduceOp op) override;
  void allreduce(std::span<int64_t> data, ReduceOp op) override;
  std::unique_ptr<Request> allreduce_async(std::span<float> data, ReduceOp op) override;
  std::unique_ptr<Request> allreduce_host_async(std::span<int64_t> data, ReduceOp op) override;
  std::unique_ptr<Request> allreduce_compressed_async(std::span<float> data, ReduceOp op,
                                                      WireType wire) override;
  std::unique_ptr<Request> reduce_scatter_async(std::span<const float> send, std::span<float> recv,
                                                const std::vector<int64_t>& counts,
                                                ReduceOp op) override;
  void allgather_pieces(std::span<float> data, const std::vector<int64_t>& counts) override;
  void broadcast(std::span<float> data, int root) override;
  void broadcast(std::span<double> data, int root) override;
  void broadcast(std::span<uint8_t> data, int root) override;
  void allgather(std::span<const uint64_t> in, std::span<uint64_t> out) override;
  void barrier() override;
  /// Gathers every rank's `in` (counts[r] floats from rank r, in rank order)
  /// into `out` on `root` (out.size() == sum of counts there; ignored elsewhere).
  void gather(std::span<const float> in, std::span<float> out, const std::vector<int64_t>& counts,
              int root);

  MPI_Comm handle() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
};

}  // namespace lockstep::comm
