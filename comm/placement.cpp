#include "comm/placement.hpp"

#include <unistd.h>

#include <cstdlib>
#include <sstream>

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
    error = gpus == 0 ? std::string("dist.device = cuda, but ") +
                            (device::built_with_cuda() ? "no GPU is visible on " + p.host
                                                       : "this build of lockstep has no CUDA backend")
                      : "dist.device = cuda, but another rank sees no GPU";
  }
  p.gpu = request == DeviceRequest::kCuda || (request == DeviceRequest::kAuto && min_gpus[0] > 0);
  if (!error && p.gpu && p.local_size > gpus && !allow_shared_gpu) {
    std::ostringstream os;
    os << p.local_size << " ranks on host " << p.host << " but " << gpus
       << " GPU(s): expected at most one rank per GPU (launch fewer ranks per node, e.g. "
          "srun --ntasks-per-node="
       << gpus << ", or set dist.allow_shared_gpu = true)";
    error = os.str();
  }
  agree_or_throw(comm, error);
  std::ostringstream d;
  d << "rank " << comm.rank() << " on " << p.host << " (local rank " << p.local_rank << "/"
    << p.local_size << "): ";
  if (p.gpu) {
    p.device = p.local_rank % gpus;
    const device::Info info = device::info(p.device);
    d << "GPU " << p.device << " (" << info.name << ", bus " << info.bus_id << ")";
  } else {
    d << "CPU";
  }
  p.description = d.str();
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
