#pragma once
// Which device each rank uses (DESIGN.md "Communication"; the GPU issue).
//
// The local rank comes from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), with
// OMPI_COMM_WORLD_LOCAL_RANK / SLURM_LOCALID as fallbacks. GPU = local rank
// mod visible GPUs. More ranks than GPUs on a host is an error unless
// explicitly allowed (several ranks sharing a GPU is for tests).

#include <string>

#include "comm/mpi.hpp"

namespace lockstep::comm {

enum class DeviceRequest { kAuto, kCpu, kCuda };
DeviceRequest parse_device_request(const std::string& name);  // auto | cpu | cuda

struct Placement {
  bool gpu = false;
  int device = -1;  // GPU index on the host, when gpu
  int local_rank = 0;
  int local_size = 1;
  std::string host;
  std::string description;  // "rank 1 on node07: GPU 1 (NVIDIA H100, bus 0000:3B:00.0)"
};

/// Decides this rank's device (collective: the decision must agree across
/// ranks: all on GPUs or all on CPUs). Throws CollectiveError on a bad request.
Placement place_rank(const MpiSession& mpi, MpiCommunicator& comm, DeviceRequest request,
                     bool allow_shared_gpu);

/// Every rank's description, gathered to rank 0 (one line each; other ranks get "").
std::string gather_placements(MpiCommunicator& comm, const Placement& mine);

}  // namespace lockstep::comm
