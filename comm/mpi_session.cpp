// The MPI session: initialisation at the thread level MpiSession asks for
// (and which threads may call MPI afterwards), the host layout from MPI's
// shared-memory split, ending the job (abort), gathering an error's messages
// from every rank, and the text of MPI error codes for LOCKSTEP_MPI_CHECK.
// The communicator is in comm/mpi.cpp; both are declared in comm/mpi.hpp.

#include "comm/mpi.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>

namespace lockstep::comm {

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(len));
}

namespace {

// What MpiSession learnt about MPI's threads (MPI's own state is process-wide
// too): the level it gave, and the thread that set it up (-1: not recorded).
std::atomic<int> g_thread_level{-1};
std::atomic<std::thread::id> g_mpi_thread{};

}  // namespace

bool mpi_abort_allowed_here() noexcept {
  const int level = g_thread_level.load(std::memory_order_acquire);
  if (level < 0) return false;
  return level >= MPI_THREAD_MULTIPLE ||
         g_mpi_thread.load(std::memory_order_acquire) == std::this_thread::get_id();
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  LOCKSTEP_MPI_CHECK(MPI_Initialized(&initialized));
  if (!initialized) {
    LOCKSTEP_MPI_CHECK(MPI_Init_thread(argc, argv, kMpiThreadLevel, &thread_level_));
    owns_ = true;
  } else {
    LOCKSTEP_MPI_CHECK(MPI_Query_thread(&thread_level_));
  }
  // Below MPI_THREAD_MULTIPLE only the thread that set MPI up may call it
  // (with SINGLE/FUNNELED strictly the main one; a session is made there).
  int is_main = 0;
  LOCKSTEP_MPI_CHECK(MPI_Is_thread_main(&is_main));
  if (is_main || thread_level_ >= MPI_THREAD_SERIALIZED)
    g_mpi_thread.store(std::this_thread::get_id(), std::memory_order_release);
  g_thread_level.store(thread_level_, std::memory_order_release);
  LOCKSTEP_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  LOCKSTEP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  LOCKSTEP_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  MPI_Comm local = MPI_COMM_NULL;
  LOCKSTEP_MPI_CHECK(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local));
  layout_ = host_layout(MPI_COMM_WORLD, local);
  MPI_Comm_free(&local);
}

HostLayout host_layout(MPI_Comm world, MPI_Comm local) {
  HostLayout h;
  int world_rank = 0;
  LOCKSTEP_MPI_CHECK(MPI_Comm_rank(world, &world_rank));
  LOCKSTEP_MPI_CHECK(MPI_Comm_rank(local, &h.local_rank));
  LOCKSTEP_MPI_CHECK(MPI_Comm_size(local, &h.local_size));
  // One leader per host (its local rank 0); the leaders, ordered by world
  // rank, number the hosts; each leader tells its host.
  MPI_Comm leaders = MPI_COMM_NULL;
  LOCKSTEP_MPI_CHECK(
      MPI_Comm_split(world, h.local_rank == 0 ? 0 : MPI_UNDEFINED, world_rank, &leaders));
  int v[2] = {0, 1};
  if (leaders != MPI_COMM_NULL) {
    LOCKSTEP_MPI_CHECK(MPI_Comm_rank(leaders, &v[0]));
    LOCKSTEP_MPI_CHECK(MPI_Comm_size(leaders, &v[1]));
    MPI_Comm_free(&leaders);
  }
  LOCKSTEP_MPI_CHECK(MPI_Bcast(v, 2, MPI_INT, 0, local));
  h.host = v[0];
  h.hosts = v[1];
  return h;
}

MpiSession::~MpiSession() {
  if (!owns_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiSession::abort(int code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

namespace {

// Waits for `request` until `deadline`; false when it has not completed by then
// (the request is left pending: the caller ends the process).
bool wait_until(MPI_Request& request, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int done = 0;
    if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
    if (done) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

std::optional<std::vector<std::string>> gather_error_messages(const std::string& mine,
                                                              double timeout_s) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  const int length = static_cast<int>(mine.size());
  std::vector<int> lengths(rank == 0 ? static_cast<size_t>(size) : 0);
  MPI_Request request = MPI_REQUEST_NULL;
  if (MPI_Igather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD, &request) !=
          MPI_SUCCESS ||
      !wait_until(request, deadline))
    return std::nullopt;
  std::vector<int> offsets(lengths.size(), 0);
  for (size_t r = 1; r < lengths.size(); ++r) offsets[r] = offsets[r - 1] + lengths[r - 1];
  std::vector<char> text(lengths.empty() ? 0
                                         : static_cast<size_t>(offsets.back() + lengths.back()));
  if (MPI_Igatherv(mine.data(), length, MPI_CHAR, text.data(), lengths.data(), offsets.data(),
                   MPI_CHAR, 0, MPI_COMM_WORLD, &request) != MPI_SUCCESS ||
      !wait_until(request, deadline))
    return std::nullopt;
  // A rank other than 0 can complete its part of the gathers (small messages
  // go eagerly) while rank 0 never joins them, e.g. when only some ranks
  // failed to read their config: a barrier tells every rank that all arrived.
  if (MPI_Ibarrier(MPI_COMM_WORLD, &request) != MPI_SUCCESS || !wait_until(request, deadline))
    return std::nullopt;
  std::vector<std::string> messages;
  for (size_t r = 0; r < lengths.size(); ++r)
    messages.emplace_back(text.data() + offsets[r], static_cast<size_t>(lengths[r]));
  return messages;
}

}  // namespace lockstep::comm
