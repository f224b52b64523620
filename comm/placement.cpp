#include "comm/placement.hpp"

#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <sstream>
#include <vector>

#include "core/device.hpp"

namespace lockstep::comm {

DeviceRequest parse_device_request(const std::string& name) {
  if (name == "auto") return DeviceRequest::kAuto;
  if (name == "cpu") return DeviceRequest::kCpu;
  if (name == "cuda" || name == "gpu") return DeviceRequest::kCuda;
  throw Error("dist.device: expected auto, cpu or cuda, got '" + name + "'");
}

namespace {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

// Local rank: MPI's shared-memory split, else the launcher's environment.
int local_rank_of(const MpiSession& mpi) {
  if (mpi.local_size() > 1 || mpi.world_size() == 1) return mpi.local_rank();
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) {
    if (const char* v = std::getenv(var)) return std::atoi(v);
  }
  return mpi.local_rank();
}

}  // namespace

Placement place_rank(const MpiSession& mpi, MpiCommunicator& comm, DeviceRequest request,
                     bool allow_shared_gpu) {
  Placement p;
  p.host = host_name();
  p.local_rank = local_rank_of(mpi);
  p.local_size = mpi.local_size();
  const int gpus = device::count();
  // All ranks must agree on GPU or CPU: GPU only when every rank has one.
  std::vector<int64_t> min_gpus{gpus};
  comm.allreduce(std::span<int64_t>(min_gpus), ReduceOp::kMin);
  std::optional<std::string> error;
  if (request == DeviceRequest::kCuda && min_gpus[0] == 0) {
    error = gpus == 0
                ? std::string("dist.device = cuda, but ") +
                      (device::built_with_cuda() ? "no GPU is visible on " + p.host
                                                 : "this build of lockstep has no CUDA backend")
                : "dist.device = cuda, but another rank sees no GPU";
  }
  p.gpu = request == DeviceRequest::kCuda || (request == DeviceRequest::kAuto && min_gpus[0] > 0);
  agree_or_throw(comm, error);
  std::ostringstream d;
  d << "rank " << comm.rank() << " on " << p.host << " (local rank " << p.local_rank << "/"
    << p.local_size << "): ";
  std::string bus;
  if (p.gpu) {
    p.device = p.local_rank % gpus;
    const device::Info info = device::info(p.device);
    bus = info.bus_id;
    d << "GPU " << p.device << " (" << info.name << ", bus " << info.bus_id << ")";
  } else {
    d << "CPU";
  }
  p.description = d.str();
  // One rank per physical GPU: compare (host, bus id) across ranks. This works
  // whether every rank sees all GPUs of its node or the batch system gave
  // each task its own (srun --gpus-per-task=1: every rank sees "GPU 0").
  if (p.gpu && !allow_shared_gpu) {
    const uint64_t mine = fnv1a(p.host + "/" + bus);
    std::vector<uint64_t> all(static_cast<size_t>(comm.size()));
    comm.allgather(std::span<const uint64_t>(&mine, 1), all);
    std::optional<std::string> shared;
    for (int r = 0; r < comm.size(); ++r) {
      if (r != comm.rank() && all[static_cast<size_t>(r)] == mine) {
        std::ostringstream os;
        os << "ranks " << std::min(r, comm.rank()) << " and " << std::max(r, comm.rank())
           << " would share the GPU at bus " << bus << " on host " << p.host << " (" << gpus
           << " GPU(s) visible to " << p.local_size
           << " ranks on the host): expected one rank per GPU (launch fewer ranks per node, "
              "or set dist.allow_shared_gpu = true)";
        shared = os.str();
        break;
      }
    }
    agree_or_throw(comm, shared);
  }
  return p;
}

std::string gather_placements(MpiCommunicator& comm, const Placement& mine) {
  std::string all = comm.rank() == 0 ? mine.description + "\n" : "";
  for (int r = 1; r < comm.size(); ++r) {
    const std::string line = broadcast_string(comm, comm.rank() == r ? mine.description : "", r);
    if (comm.rank() == 0) all += line + "\n";
  }
  return all;
}

}  // namespace lockstep::comm
